-- AlterTable
ALTER TABLE "Run" ADD COLUMN "qualityContent" REAL;
ALTER TABLE "Run" ADD COLUMN "qualityStyle" REAL;

-- AlterTable
ALTER TABLE "RunStep" ADD COLUMN "tile" INTEGER;
ALTER TABLE "RunStep" ADD COLUMN "tiles" INTEGER;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_StyleModel" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "architecture" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "location" TEXT NOT NULL,
    "previewImageId" TEXT,
    "styleImageId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "StyleModel_previewImageId_fkey" FOREIGN KEY ("previewImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "StyleModel_styleImageId_fkey" FOREIGN KEY ("styleImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_StyleModel" ("architecture", "createdAt", "format", "id", "location", "name", "owner", "previewImageId", "source") SELECT "architecture", "createdAt", "format", "id", "location", "name", "owner", "previewImageId", "source" FROM "StyleModel";
DROP TABLE "StyleModel";
ALTER TABLE "new_StyleModel" RENAME TO "StyleModel";
CREATE UNIQUE INDEX "StyleModel_owner_name_key" ON "StyleModel"("owner", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
