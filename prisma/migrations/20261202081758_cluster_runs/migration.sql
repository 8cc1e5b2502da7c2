-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Run" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "engine" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "contentImageId" TEXT NOT NULL,
    "presetId" TEXT,
    "styleModelId" TEXT,
    "queuedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "resultImageId" TEXT,
    "checkpointImageId" TEXT,
    "checkpointStep" INTEGER,
    "totalSteps" INTEGER NOT NULL,
    "lastStep" INTEGER NOT NULL DEFAULT 0,
    "width" INTEGER,
    "height" INTEGER,
    "backend" TEXT,
    "contentLoss" REAL,
    "styleLoss" REAL,
    "tvLoss" REAL,
    "totalLoss" REAL,
    "round" INTEGER NOT NULL DEFAULT 0,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Run_contentImageId_fkey" FOREIGN KEY ("contentImageId") REFERENCES "Image" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Run_presetId_fkey" FOREIGN KEY ("presetId") REFERENCES "Preset" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_styleModelId_fkey" FOREIGN KEY ("styleModelId") REFERENCES "StyleModel" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_resultImageId_fkey" FOREIGN KEY ("resultImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_checkpointImageId_fkey" FOREIGN KEY ("checkpointImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "owner", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "styleModelId", "totalLoss", "totalSteps", "tvLoss", "width") SELECT "backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "owner", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "styleModelId", "totalLoss", "totalSteps", "tvLoss", "width" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_status_queuedAt_idx" ON "Run"("status", "queuedAt");
CREATE INDEX "Run_queuedAt_idx" ON "Run"("queuedAt");
CREATE INDEX "Run_owner_queuedAt_idx" ON "Run"("owner", "queuedAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
