-- CreateTable
CREATE TABLE "StyleModel" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "architecture" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "location" TEXT NOT NULL,
    "previewImageId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "StyleModel_previewImageId_fkey" FOREIGN KEY ("previewImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Run" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    CONSTRAINT "Run_contentImageId_fkey" FOREIGN KEY ("contentImageId") REFERENCES "Image" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Run_presetId_fkey" FOREIGN KEY ("presetId") REFERENCES "Preset" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_styleModelId_fkey" FOREIGN KEY ("styleModelId") REFERENCES "StyleModel" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_resultImageId_fkey" FOREIGN KEY ("resultImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_checkpointImageId_fkey" FOREIGN KEY ("checkpointImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "totalLoss", "totalSteps", "tvLoss", "width") SELECT "backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "totalLoss", "totalSteps", "tvLoss", "width" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_status_queuedAt_idx" ON "Run"("status", "queuedAt");
CREATE INDEX "Run_queuedAt_idx" ON "Run"("queuedAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "StyleModel_name_key" ON "StyleModel"("name");
