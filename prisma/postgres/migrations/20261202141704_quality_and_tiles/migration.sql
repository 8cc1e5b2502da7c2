-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "qualityContent" DOUBLE PRECISION,
ADD COLUMN     "qualityStyle" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "RunStep" ADD COLUMN     "tile" INTEGER,
ADD COLUMN     "tiles" INTEGER;

-- AlterTable
ALTER TABLE "StyleModel" ADD COLUMN     "styleImageId" TEXT;

-- AddForeignKey
ALTER TABLE "StyleModel" ADD CONSTRAINT "StyleModel_styleImageId_fkey" FOREIGN KEY ("styleImageId") REFERENCES "Image"("id") ON DELETE SET NULL ON UPDATE CASCADE;
