-- CreateTable
CREATE TABLE "ImageOwner" (
    "imageId" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("imageId", "owner"),
    CONSTRAINT "ImageOwner_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "scopes" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" DATETIME,
    "revokedAt" DATETIME
);

-- CreateTable
CREATE TABLE "ServerSecret" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Preset" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "engine" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "builtIn" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
-- Owners: what existed belonged to the one local user ('local'); built-ins are everyone's ('').
INSERT INTO "new_Preset" ("builtIn", "createdAt", "engine", "id", "name", "owner", "params", "updatedAt") SELECT "builtIn", "createdAt", "engine", "id", "name", CASE WHEN "builtIn" THEN '' ELSE 'local' END, "params", "updatedAt" FROM "Preset";
DROP TABLE "Preset";
ALTER TABLE "new_Preset" RENAME TO "Preset";
CREATE UNIQUE INDEX "Preset_owner_name_key" ON "Preset"("owner", "name");
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
    CONSTRAINT "Run_contentImageId_fkey" FOREIGN KEY ("contentImageId") REFERENCES "Image" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Run_presetId_fkey" FOREIGN KEY ("presetId") REFERENCES "Preset" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_styleModelId_fkey" FOREIGN KEY ("styleModelId") REFERENCES "StyleModel" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_resultImageId_fkey" FOREIGN KEY ("resultImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Run_checkpointImageId_fkey" FOREIGN KEY ("checkpointImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("owner", "backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "styleModelId", "totalLoss", "totalSteps", "tvLoss", "width") SELECT 'local', "backend", "checkpointImageId", "checkpointStep", "contentImageId", "contentLoss", "engine", "errorCode", "errorMessage", "finishedAt", "height", "id", "lastStep", "params", "presetId", "queuedAt", "resultImageId", "startedAt", "status", "styleLoss", "styleModelId", "totalLoss", "totalSteps", "tvLoss", "width" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_status_queuedAt_idx" ON "Run"("status", "queuedAt");
CREATE INDEX "Run_queuedAt_idx" ON "Run"("queuedAt");
CREATE INDEX "Run_owner_queuedAt_idx" ON "Run"("owner", "queuedAt");
CREATE TABLE "new_Style" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "imageId" TEXT NOT NULL,
    "tags" JSONB NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Style_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Style" ("createdAt", "id", "imageId", "name", "owner", "tags") SELECT "createdAt", "id", "imageId", "name", 'local', "tags" FROM "Style";
DROP TABLE "Style";
ALTER TABLE "new_Style" RENAME TO "Style";
CREATE UNIQUE INDEX "Style_owner_name_key" ON "Style"("owner", "name");
CREATE TABLE "new_StyleModel" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "architecture" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "location" TEXT NOT NULL,
    "previewImageId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "StyleModel_previewImageId_fkey" FOREIGN KEY ("previewImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_StyleModel" ("architecture", "createdAt", "format", "id", "location", "name", "owner", "previewImageId", "source") SELECT "architecture", "createdAt", "format", "id", "location", "name", CASE WHEN "source" = 'catalogue' THEN '' ELSE 'local' END, "previewImageId", "source" FROM "StyleModel";
DROP TABLE "StyleModel";
ALTER TABLE "new_StyleModel" RENAME TO "StyleModel";
CREATE UNIQUE INDEX "StyleModel_owner_name_key" ON "StyleModel"("owner", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "ImageOwner_owner_idx" ON "ImageOwner"("owner");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_prefix_key" ON "ApiKey"("prefix");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_hash_key" ON "ApiKey"("hash");

-- Every image stored so far is the local user's; the catalogue's previews are everyone's too.
INSERT INTO "ImageOwner" ("imageId", "owner") SELECT "id", 'local' FROM "Image";
INSERT OR IGNORE INTO "ImageOwner" ("imageId", "owner") SELECT "previewImageId", '' FROM "StyleModel" WHERE "owner" = '' AND "previewImageId" IS NOT NULL;
