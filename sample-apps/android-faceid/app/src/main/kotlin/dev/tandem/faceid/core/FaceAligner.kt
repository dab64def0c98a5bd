package dev.tandem.faceid.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.hypot

/** A point in image pixels (x to the right, y down). */
data class Point(val x: Double, val y: Double)

/**
 * The three landmarks the alignment uses, in image pixels. Left and right are the subject's:
 * on an upright, unmirrored frontal face [rightEye] is on the image's left.
 */
data class FaceLandmarks(val rightEye: Point, val leftEye: Point, val mouthCenter: Point)

/**
 * An RGB image as packed ARGB ints, row-major, top row first: the layout of
 * `android.graphics.Bitmap.getPixels`, so a camera frame is handed over without conversion.
 */
class ArgbImage(val width: Int, val height: Int, val pixels: IntArray) {
    init {
        require(width > 0 && height > 0) { "empty image ${width}x$height" }
        require(pixels.size == width * height) { "${width}x$height needs ${width * height} pixels, got ${pixels.size}" }
    }

    /** Channel `c` (0 red, 1 green, 2 blue) at (x, y), or 0 (black) outside the image. */
    internal fun channel(x: Int, y: Int, c: Int): Int {
        if (x < 0 || y < 0 || x >= width || y >= height) return 0
        return (pixels[y * width + x] shr (16 - 8 * c)) and 0xFF
    }
}

/** A rectangle of an image, pixels. */
data class PixelRect(val x: Int, val y: Int, val width: Int, val height: Int) {
    /** [p] in this rectangle's coordinates. */
    fun local(p: Point) = Point(p.x - x, p.y - y)

    /**
     * Where this rectangle of an upright image lies in the camera's [sourceWidth] x
     * [sourceHeight] buffer that is rotated by [rotationDegrees] (clockwise, CameraX's
     * `rotationDegrees`) to be upright.
     */
    fun inSource(rotationDegrees: Int, sourceWidth: Int, sourceHeight: Int): PixelRect = when (rotationDegrees) {
        90 -> PixelRect(y, sourceHeight - (x + width), height, width)
        180 -> PixelRect(sourceWidth - (x + width), sourceHeight - (y + height), width, height)
        270 -> PixelRect(sourceWidth - (y + height), x, height, width)
        else -> this
    }
}

/**
 * Aligns a face into the 150x150 "face chip" the embedder (`face_embedder.onnx`, dlib's ResNet)
 * expects, exactly as the Rust pipeline (`faceid/src/align.rs`) and the Python reference
 * (`models/scripts/make_face_crops.py`) do: a least-squares similarity transform maps the eyes
 * and the mouth centre onto dlib's mean face with 25% padding; the chip is resampled
 * bilinearly, supersampled k x k when the face is larger than the chip, and rounded to integers.
 */
object FaceAligner {
    /** Side of the chip, pixels. */
    const val CHIP_SIZE = 150

    /** dlib's padding around the mean face. */
    const val PADDING = 0.25

    /** dlib's mean face in [0,1] units: right eye, left eye, mouth centre. */
    private val MEAN_FACE = listOf(Point(0.22733, 0.22139), Point(0.75281, 0.22123), Point(0.49011, 0.80))

    /** Where the mean face's points land in the chip. */
    val templatePx: List<Point> = MEAN_FACE.map {
        Point((PADDING + it.x) / (1 + 2 * PADDING) * CHIP_SIZE, (PADDING + it.y) / (1 + 2 * PADDING) * CHIP_SIZE)
    }

    /**
     * The least-squares similarity transform (rotation, uniform scale, shift; no reflection)
     * mapping [src] onto [dst], as a row-major 2x3 matrix `[a, -b, tx, b, a, ty]`.
     */
    fun similarity(src: List<Point>, dst: List<Point>): DoubleArray {
        require(src.size == dst.size && src.isNotEmpty()) { "need matching, non-empty point lists" }
        val n = src.size.toDouble()
        val msx = src.sumOf { it.x } / n
        val msy = src.sumOf { it.y } / n
        val mdx = dst.sumOf { it.x } / n
        val mdy = dst.sumOf { it.y } / n
        var dot = 0.0
        var cross = 0.0
        var norm = 0.0
        for (i in src.indices) {
            val sx = src[i].x - msx
            val sy = src[i].y - msy
            val dx = dst[i].x - mdx
            val dy = dst[i].y - mdy
            dot += sx * dx + sy * dy
            cross += sx * dy - sy * dx
            norm += sx * sx + sy * sy
        }
        val a = if (norm > 0) dot / norm else 0.0
        val b = if (norm > 0) cross / norm else 0.0
        return doubleArrayOf(a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy))
    }

    /**
     * The aligned chip of the face at [landmarks] in [image]: float32 values 0..255 (integers),
     * NCHW `[1, 3, 150, 150]`, ready for `Tensor.float32(chip, intArrayOf(1, 3, 150, 150))`.
     */
    fun align(image: ArgbImage, landmarks: FaceLandmarks): FloatArray {
        val (k, inv) = chipToPhoto(landmarks)
        val plane = CHIP_SIZE * CHIP_SIZE
        val out = FloatArray(3 * plane)
        val acc = DoubleArray(3)
        for (cy in 0 until CHIP_SIZE) {
            for (cx in 0 until CHIP_SIZE) {
                acc.fill(0.0)
                for (sy in 0 until k) {
                    val gy = (cy * k + sy + 0.5) / k - 0.5
                    for (sx in 0 until k) {
                        val gx = (cx * k + sx + 0.5) / k - 0.5
                        val x = inv[0] * gx + inv[1] * gy + inv[2]
                        val y = inv[3] * gx + inv[4] * gy + inv[5]
                        bilinear(image, x, y, acc)
                    }
                }
                for (c in 0 until 3) {
                    val mean = (acc[c] / (k * k)).toFloat()
                    // numpy's rint: halves go to the even neighbour (Math.rint does the same).
                    out[c * plane + cy * CHIP_SIZE + cx] = Math.rint(mean.toDouble()).toFloat().coerceIn(0f, 255f)
                }
            }
        }
        return out
    }

    /**
     * The rectangle of a [width] x [height] photo that [align] reads for [landmarks] (clipped to
     * the photo; `null` if it misses the photo): the camera needs to copy only these pixels,
     * and aligning that crop (landmarks shifted by its origin) gives the same chip.
     */
    fun sourceRegion(landmarks: FaceLandmarks, width: Int, height: Int): PixelRect? {
        val (_, inv) = chipToPhoto(landmarks)
        val edge = CHIP_SIZE - 0.5
        val corners = listOf(-0.5 to -0.5, edge to -0.5, -0.5 to edge, edge to edge).map { (gx, gy) ->
            Point(inv[0] * gx + inv[1] * gy + inv[2], inv[3] * gx + inv[4] * gy + inv[5])
        }
        if (corners.any { !it.x.isFinite() || !it.y.isFinite() }) return null
        // bilinear sampling reads the pixel after the floor of each coordinate
        val x0 = floor(corners.minOf { it.x }).toInt().coerceAtLeast(0)
        val y0 = floor(corners.minOf { it.y }).toInt().coerceAtLeast(0)
        val x1 = (floor(corners.maxOf { it.x }).toInt() + 2).coerceAtMost(width)
        val y1 = (floor(corners.maxOf { it.y }).toInt() + 2).coerceAtMost(height)
        return if (x0 < x1 && y0 < y1) PixelRect(x0, y0, x1 - x0, y1 - y0) else null
    }

    /** The supersampling factor and the chip -> photo transform (zeros if singular). */
    private fun chipToPhoto(landmarks: FaceLandmarks): Pair<Int, DoubleArray> {
        val m = similarity(listOf(landmarks.rightEye, landmarks.leftEye, landmarks.mouthCenter), templatePx)
        val scale = hypot(m[0], m[3])
        val k = if (scale.isFinite() && scale > 0) ceil(1.0 / scale - 1e-6).toInt().coerceIn(1, 64) else 1
        val det = m[0] * m[4] - m[1] * m[3]
        // chip -> photo: the inverse of m (all zeros if m is singular: a black chip).
        val inv = if (det != 0.0 && det.isFinite()) {
            val a = m[4] / det
            val b = -m[1] / det
            val c = -m[3] / det
            val d = m[0] / det
            doubleArrayOf(a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5]))
        } else {
            DoubleArray(6)
        }
        return k to inv
    }

    /** Adds the bilinear sample at (x, y) (pixel centres at integers, black outside) to [acc]. */
    private fun bilinear(image: ArgbImage, x: Double, y: Double, acc: DoubleArray) {
        if (!x.isFinite() || !y.isFinite()) return
        val x0 = floor(x)
        val y0 = floor(y)
        val fx = x - x0
        val fy = y - y0
        val xi = x0.toInt()
        val yi = y0.toInt()
        for (c in 0 until 3) {
            acc[c] += image.channel(xi, yi, c) * (1 - fx) * (1 - fy) +
                image.channel(xi + 1, yi, c) * fx * (1 - fy) +
                image.channel(xi, yi + 1, c) * (1 - fx) * fy +
                image.channel(xi + 1, yi + 1, c) * fx * fy
        }
    }
}
