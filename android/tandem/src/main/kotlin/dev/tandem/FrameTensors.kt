package dev.tandem

import dev.tandem.model.ChannelOrder
import dev.tandem.model.DType
import dev.tandem.model.Preprocessing
import dev.tandem.model.ResizeMode
import dev.tandem.model.TensorLayout
import dev.tandem.model.Tensor
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Camera frames to model inputs, as the model's sidecar says ([ModelInfo.preprocessing]):
 * region (an optional [Crop], centre-cropped to the output's aspect ratio unless the sidecar
 * says `stretch`), bilinear resize with half-pixel centres, `(pixel - mean) / std` per channel
 * with pixels in 0..255, NCHW or NHWC, RGB or BGR. YUV 4:2:0 is converted with BT.601 full
 * range. The steps and their reference implementation are `tandem_model::preprocess` (Rust);
 * these functions are tested against tensors it computed (`android/jvm-test`).
 *
 * This file is plain Kotlin over pixel arrays and buffers with their strides; the Android
 * adapters (`Bitmap.toTensor`, CameraX's `ImageProxy.toTensor`) only hand their planes here.
 * Only the sampled region is read: the rest of the frame is never touched. Rotation is not
 * applied: pass frames upright (CameraX: `ImageAnalysis` with a target rotation, or a rotated
 * Bitmap).
 */
object FrameTensors {
    /** A rectangle of the frame, pixels. */
    data class Crop(val x: Int, val y: Int, val width: Int, val height: Int)

    /**
     * The region sampled: [crop] (else the whole frame) clipped to the frame, then, with
     * `center_crop`, its centred part of the output's aspect ratio. `null` if it is empty.
     */
    fun region(frameWidth: Int, frameHeight: Int, crop: Crop?, spec: Preprocessing): Crop? {
        val r = crop ?: Crop(0, 0, frameWidth, frameHeight)
        if (r.x < 0 || r.y < 0 || r.width <= 0 || r.height <= 0) return null
        val x1 = minOf(r.x.toLong() + r.width, frameWidth.toLong())
        val y1 = minOf(r.y.toLong() + r.height, frameHeight.toLong())
        if (r.x >= x1 || r.y >= y1) return null
        var x = r.x.toLong()
        var y = r.y.toLong()
        var w = x1 - x
        var h = y1 - y
        if (spec.resize == ResizeMode.CENTER_CROP) {
            val ow = spec.width.toLong()
            val oh = spec.height.toLong()
            if (w * oh > h * ow) {
                val nw = maxOf(h * ow / oh, 1L)
                x += (w - nw) / 2
                w = nw
            } else {
                val nh = maxOf(w * oh / ow, 1L)
                y += (h - nh) / 2
                h = nh
            }
        }
        return Crop(x.toInt(), y.toInt(), w.toInt(), h.toInt())
    }

    /**
     * From packed ARGB pixels (`Bitmap.getPixels`): pixel `(x, y)` at `offset + y * stride + x`.
     */
    fun fromArgb(
        pixels: IntArray,
        width: Int,
        height: Int,
        spec: Preprocessing,
        crop: Crop? = null,
        offset: Int = 0,
        stride: Int = width,
    ): Tensor = tensor(spec, floats(width, height, crop, spec) { x, y, rgb ->
        val p = pixels[offset + y * stride + x]
        rgb[0] = ((p shr 16) and 0xff).toFloat()
        rgb[1] = ((p shr 8) and 0xff).toFloat()
        rgb[2] = (p and 0xff).toFloat()
    })

    /**
     * From an RGBA_8888 plane (CameraX `OUTPUT_IMAGE_FORMAT_RGBA_8888`): pixel `(x, y)` at
     * `position + y * rowStride + x * pixelStride`, bytes R, G, B, A.
     */
    fun fromRgba(
        plane: ByteBuffer,
        width: Int,
        height: Int,
        rowStride: Int,
        pixelStride: Int,
        spec: Preprocessing,
        crop: Crop? = null,
    ): Tensor {
        val base = plane.position()
        return tensor(spec, floats(width, height, crop, spec) { x, y, rgb ->
            val i = base + y * rowStride + x * pixelStride
            rgb[0] = (plane.get(i).toInt() and 0xff).toFloat()
            rgb[1] = (plane.get(i + 1).toInt() and 0xff).toFloat()
            rgb[2] = (plane.get(i + 2).toInt() and 0xff).toFloat()
        })
    }

    /**
     * From YUV_420_888 planes (CameraX's default analysis format): Y at
     * `y.position() + row * yRowStride + col * yPixelStride`, U and V at half resolution with
     * their own strides (`uvPixelStride` 2 when the camera interleaves them, as NV21 does).
     */
    fun fromYuv420(
        y: ByteBuffer,
        yRowStride: Int,
        yPixelStride: Int,
        u: ByteBuffer,
        v: ByteBuffer,
        uvRowStride: Int,
        uvPixelStride: Int,
        width: Int,
        height: Int,
        spec: Preprocessing,
        crop: Crop? = null,
    ): Tensor {
        val yBase = y.position()
        val uBase = u.position()
        val vBase = v.position()
        return tensor(spec, floats(width, height, crop, spec) { col, row, rgb ->
            val luma = (y.get(yBase + row * yRowStride + col * yPixelStride).toInt() and 0xff).toFloat()
            val c = (row / 2) * uvRowStride + (col / 2) * uvPixelStride
            val cb = (u.get(uBase + c).toInt() and 0xff) - 128f
            val cr = (v.get(vBase + c).toInt() and 0xff) - 128f
            rgb[0] = (luma + 1.402f * cr).coerceIn(0f, 255f)
            rgb[1] = (luma - 0.344136f * cb - 0.714136f * cr).coerceIn(0f, 255f)
            rgb[2] = (luma + 1.772f * cb).coerceIn(0f, 255f)
        })
    }

    /**
     * The normalised values for a frame whose pixel `(x, y)` [rgbAt] writes into its
     * 3-element array (0..255 floats), in the sidecar's layout.
     *
     * @throws IllegalArgumentException if the region is empty or the spec is unusable.
     */
    fun floats(
        frameWidth: Int,
        frameHeight: Int,
        crop: Crop?,
        spec: Preprocessing,
        rgbAt: (x: Int, y: Int, rgb: FloatArray) -> Unit,
    ): FloatArray {
        require(spec.mean.size == 3 && spec.std.size == 3) { "preprocessing: mean and std need 3 values" }
        val r = requireNotNull(region(frameWidth, frameHeight, crop, spec)) {
            "the crop $crop is outside the ${frameWidth}x$frameHeight frame"
        }
        val w = spec.width.toInt()
        val h = spec.height.toInt()
        require(w > 0 && h > 0) { "preprocessing: empty output size" }
        val xs = Axis(w, r.x, r.width)
        val ys = Axis(h, r.y, r.height)
        val out = FloatArray(3 * w * h)
        val a = FloatArray(3)
        val b = FloatArray(3)
        val c = FloatArray(3)
        val d = FloatArray(3)
        for (oy in 0 until h) {
            for (ox in 0 until w) {
                rgbAt(xs.lo[ox], ys.lo[oy], a)
                rgbAt(xs.hi[ox], ys.lo[oy], b)
                rgbAt(xs.lo[ox], ys.hi[oy], c)
                rgbAt(xs.hi[ox], ys.hi[oy], d)
                val fx = xs.frac[ox]
                val fy = ys.frac[oy]
                for (ch in 0 until 3) {
                    val top = a[ch] + (b[ch] - a[ch]) * fx
                    val bottom = c[ch] + (d[ch] - c[ch]) * fx
                    val value = top + (bottom - top) * fy
                    val oc = if (spec.channelOrder == ChannelOrder.BGR) 2 - ch else ch
                    val index = when (spec.layout) {
                        TensorLayout.NCHW -> oc * h * w + oy * w + ox
                        TensorLayout.NHWC -> (oy * w + ox) * 3 + oc
                    }
                    out[index] = (value - spec.mean[oc]) / spec.std[oc]
                }
            }
        }
        return out
    }

    /** The tensor of [values] for [spec]: float32, the sidecar's input name and shape. */
    fun tensor(spec: Preprocessing, values: FloatArray): Tensor {
        val w = spec.width.toInt()
        val h = spec.height.toInt()
        val shape = when (spec.layout) {
            TensorLayout.NCHW -> intArrayOf(1, 3, h, w)
            TensorLayout.NHWC -> intArrayOf(1, h, w, 3)
        }
        return Tensor.float32(values, shape, spec.input ?: "")
    }

    /** [values] as a direct little-endian buffer, for [Tandem.inferFrame] with `DType.FP32`. */
    fun directBuffer(values: FloatArray): ByteBuffer {
        val bytes = ByteBuffer.allocateDirect(values.size * Float.SIZE_BYTES).order(ByteOrder.LITTLE_ENDIAN)
        bytes.asFloatBuffer().put(values)
        return bytes
    }

    /** The float32 element type of every tensor these helpers make. */
    val dtype: DType get() = DType.FP32

    /** Per output index along one axis: the two neighbours and the weight of the second. */
    private class Axis(outLen: Int, start: Int, len: Int) {
        val lo = IntArray(outLen)
        val hi = IntArray(outLen)
        val frac = FloatArray(outLen)

        init {
            val first = start.toDouble()
            val last = (start + len - 1).toDouble()
            for (o in 0 until outLen) {
                val s = (start + (o + 0.5) * len / outLen - 0.5).coerceIn(first, last)
                val i0 = Math.floor(s)
                lo[o] = i0.toInt()
                hi[o] = minOf(i0 + 1.0, last).toInt()
                frac[o] = (s - i0).toFloat()
            }
        }
    }
}
