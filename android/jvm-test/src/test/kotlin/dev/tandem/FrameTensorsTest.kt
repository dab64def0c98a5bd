package dev.tandem

import java.nio.ByteBuffer
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * The frame helpers against tensors computed by the Rust reference (`tandem_model::preprocess`),
 * from the same frame laid out as a camera would: RGBA rows with padding, ARGB ints with a
 * stride, YUV with interleaved (NV21-like) and with planar chroma.
 */
class FrameTensorsTest {
    private val fixture = FrameFixture.load()

    /** RGBA bytes with [pad] bytes after each row, as CameraX's RGBA_8888 planes may have. */
    private fun rgbaPlane(pad: Int): Pair<ByteBuffer, Int> {
        val rowStride = fixture.width * 4 + pad
        val buffer = ByteBuffer.allocateDirect(rowStride * fixture.height + 3)
        buffer.position(3) // the plane starts inside a larger buffer
        val base = buffer.position()
        for (y in 0 until fixture.height) {
            for (x in 0 until fixture.width) {
                val p = 3 * (y * fixture.width + x)
                val i = base + y * rowStride + x * 4
                for (c in 0 until 3) buffer.put(i + c, fixture.rgb[p + c].toByte())
                buffer.put(i + 3, 0xff.toByte())
            }
        }
        return buffer.slice() to rowStride
    }

    @Test
    fun `RGBA planes and ARGB pixels give the Rust reference tensors`() {
        val rgbCases = fixture.cases.filter { !it.yuv }
        assertTrue(rgbCases.size >= 2)
        val (plane, rowStride) = rgbaPlane(pad = 8)
        // ARGB with a stride of 13 and an offset of 5, as getPixels can write them
        val stride = fixture.width + 3
        val argb = IntArray(5 + stride * fixture.height)
        val packed = fixture.argb()
        for (y in 0 until fixture.height) packed.copyInto(argb, 5 + y * stride, y * fixture.width, (y + 1) * fixture.width)
        for (case in rgbCases) {
            val fromRgba = FrameTensors.fromRgba(plane, fixture.width, fixture.height, rowStride, 4, case.spec, case.crop)
            assertClose(case.expected, fromRgba.toFloatArray(), "${case.name} (RGBA)")
            val expectedShape = case.spec.let {
                if (it.layout == dev.tandem.model.TensorLayout.NCHW) {
                    intArrayOf(1, 3, it.height.toInt(), it.width.toInt())
                } else {
                    intArrayOf(1, it.height.toInt(), it.width.toInt(), 3)
                }
            }
            assertArrayEquals(expectedShape, fromRgba.dims)
            val fromArgb = FrameTensors.fromArgb(argb, fixture.width, fixture.height, case.spec, case.crop, offset = 5, stride = stride)
            assertClose(case.expected, fromArgb.toFloatArray(), "${case.name} (ARGB)")
        }
    }

    @Test
    fun `YUV_420_888 planes, interleaved or planar, give the Rust reference tensors`() {
        val yuvCases = fixture.cases.filter { it.yuv }
        assertTrue(yuvCases.size >= 2)
        val w = fixture.width
        val h = fixture.height
        val yRowStride = w + 6
        val y = ByteBuffer.allocateDirect(yRowStride * h)
        for (row in 0 until h) for (col in 0 until w) y.put(row * yRowStride + col, fixture.y[row * w + col].toByte())
        val cw = w / 2
        val ch = h / 2
        // interleaved V,U (NV21): the V plane starts one byte before the U plane, pixel stride 2
        val uvRowStride = w + 2
        val vu = ByteBuffer.allocateDirect(uvRowStride * ch + 1)
        for (row in 0 until ch) for (col in 0 until cw) {
            vu.put(row * uvRowStride + 2 * col, fixture.v[row * cw + col].toByte())
            vu.put(row * uvRowStride + 2 * col + 1, fixture.u[row * cw + col].toByte())
        }
        val v = vu.duplicate()
        val u = vu.duplicate().also { it.position(1) }
        // planar (I420): separate planes, pixel stride 1
        val uPlanar = ByteBuffer.wrap(ByteArray(cw * ch) { fixture.u[it].toByte() })
        val vPlanar = ByteBuffer.wrap(ByteArray(cw * ch) { fixture.v[it].toByte() })
        for (case in yuvCases) {
            val nv21 = FrameTensors.fromYuv420(y, yRowStride, 1, u, v, uvRowStride, 2, w, h, case.spec, case.crop)
            assertClose(case.expected, nv21.toFloatArray(), "${case.name} (interleaved)")
            val i420 = FrameTensors.fromYuv420(y, yRowStride, 1, uPlanar, vPlanar, cw, 1, w, h, case.spec, case.crop)
            assertClose(case.expected, i420.toFloatArray(), "${case.name} (planar)")
        }
    }

    @Test
    fun `a crop outside the frame is refused, not guessed`() {
        val spec = fixture.cases.first().spec
        assertEquals(null, FrameTensors.region(fixture.width, fixture.height, FrameTensors.Crop(10, 0, 4, 4), spec))
        assertThrows<IllegalArgumentException> {
            FrameTensors.fromArgb(fixture.argb(), fixture.width, fixture.height, spec, FrameTensors.Crop(0, 20, 2, 2))
        }
    }
}
