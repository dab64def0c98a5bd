package dev.tandem.faceid.core

import java.io.File
import javax.imageio.ImageIO
import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.sin
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class FaceAlignerTest {
    /** The repository's models/ folder (system property `tandem.models`, else found upwards). */
    private fun models(): File {
        System.getProperty("tandem.models")?.let { return File(it) }
        var dir: File? = File("").absoluteFile
        while (dir != null) {
            val candidate = File(dir, "models/testdata/face_crops.json")
            if (candidate.isFile) return File(dir, "models")
            dir = dir.parentFile
        }
        error("models/ not found above ${File("").absolutePath}")
    }

    private fun argb(file: File): ArgbImage {
        val img = ImageIO.read(file) ?: error("cannot decode $file")
        return ArgbImage(img.width, img.height, img.getRGB(0, 0, img.width, img.height, null, 0, img.width))
    }

    @Test
    fun templateMatchesDlibsChipPoints() {
        val t = FaceAligner.templatePx
        assertEquals(47.733, t[0].x, 1e-9)
        assertEquals(47.139, t[0].y, 1e-9)
        assertEquals(100.281, t[1].x, 1e-9)
        assertEquals(74.011, t[2].x, 1e-9)
        assertEquals(105.0, t[2].y, 1e-9)
    }

    @Test
    fun similarityRecoversAKnownTransform() {
        val s = 1.7
        val angle = 0.3
        val a = s * cos(angle)
        val b = s * sin(angle)
        val src = listOf(Point(10.0, 20.0), Point(50.0, 22.0), Point(30.0, 70.0))
        val dst = src.map { Point(a * it.x - b * it.y + 5.0, b * it.x + a * it.y - 7.0) }
        val m = FaceAligner.similarity(src, dst)
        assertArrayEquals(doubleArrayOf(a, -b, 5.0, b, a, -7.0), m, 1e-9)
    }

    @Test
    fun degenerateLandmarksGiveABlackChipNotACrash() {
        val image = ArgbImage(4, 4, IntArray(16) { 0xFFFFFF })
        val p = Point(1.0, 1.0)
        val chip = FaceAligner.align(image, FaceLandmarks(p, p, p))
        assertEquals(3 * 150 * 150, chip.size)
    }

    /**
     * The same chip as the Python reference (`models/testdata/obama_crop.png`) from the
     * reference keypoints (`face_crops.json`): only the JPEG decoders differ (ImageIO vs
     * libjpeg-turbo), by a few 8-bit steps.
     */
    @Test
    fun chipMatchesTheReferenceCrop() {
        val models = models()
        val json = File(models, "testdata/face_crops.json").readText()
        val face = Regex("\\{\"name\":\"obama\",.*?\"keypoints\":(\\[\\[.*?\\]\\])").find(json) ?: error("no obama face")
        val numbers = Regex("-?[0-9.]+(?:e-?[0-9]+)?").findAll(face.groupValues[1]).map { it.value.toDouble() }.toList()
        val kp = numbers.chunked(2).map { Point(it[0], it[1]) }
        val chip = FaceAligner.align(argb(File(models, "photos/obama.jpg")), FaceLandmarks(kp[0], kp[1], kp[3]))
        val reference = argb(File(models, "testdata/obama_crop.png"))
        var max = 0f
        var sum = 0.0
        val plane = 150 * 150
        for (i in 0 until plane) {
            for (c in 0 until 3) {
                val want = (reference.pixels[i] shr (16 - 8 * c)) and 0xFF
                val d = abs(chip[c * plane + i] - want)
                max = maxOf(max, d)
                sum += d
            }
        }
        val mean = sum / (3 * plane)
        assertTrue("max difference $max", max <= 8f)
        assertTrue("mean difference $mean", mean < 0.5)
    }

    /**
     * The analyzer copies only [FaceAligner.sourceRegion] of the frame: aligning that crop, with
     * the landmarks shifted by its origin, gives exactly the chip of the whole photo.
     */
    @Test
    fun aligningTheSourceRegionGivesTheSameChip() {
        val photo = argb(File(models(), "photos/obama.jpg"))
        val json = File(models(), "testdata/face_crops.json").readText()
        val face = Regex("\\{\"name\":\"obama\",.*?\"keypoints\":(\\[\\[.*?\\]\\])").find(json) ?: error("no obama face")
        val kp = Regex("-?[0-9.]+(?:e-?[0-9]+)?").findAll(face.groupValues[1]).map { it.value.toDouble() }
            .toList().chunked(2).map { Point(it[0], it[1]) }
        val landmarks = FaceLandmarks(kp[0], kp[1], kp[3])
        val region = FaceAligner.sourceRegion(landmarks, photo.width, photo.height) ?: error("no region")
        assertTrue("a part of the photo: $region", region.width * region.height < photo.width * photo.height / 2)
        val pixels = IntArray(region.width * region.height) { i ->
            photo.pixels[(region.y + i / region.width) * photo.width + region.x + i % region.width]
        }
        val crop = ArgbImage(region.width, region.height, pixels)
        val local = FaceLandmarks(region.local(landmarks.rightEye), region.local(landmarks.leftEye), region.local(landmarks.mouthCenter))
        assertArrayEquals(FaceAligner.align(photo, landmarks), FaceAligner.align(crop, local), 0f)
    }

    /** Upright rectangles map back into the rotated camera buffer (CameraX's rotationDegrees). */
    @Test
    fun uprightRectanglesMapIntoTheCameraBuffer() {
        // a 4x2 buffer shown rotated by 90 degrees is 2 wide and 4 tall: its upright top row
        // (x 0..1, y 0) is the buffer's first column, read bottom-up
        val top = PixelRect(0, 0, 2, 1)
        assertEquals(PixelRect(0, 0, 1, 2), top.inSource(90, 4, 2))
        assertEquals(PixelRect(3, 0, 1, 2), top.inSource(270, 4, 2))
        assertEquals(PixelRect(2, 1, 2, 1), PixelRect(0, 0, 2, 1).inSource(180, 4, 2))
        assertEquals(top, top.inSource(0, 4, 2))
    }
}
