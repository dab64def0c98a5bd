package dev.tandem

import dev.tandem.model.ChannelOrder
import dev.tandem.model.Preprocessing
import dev.tandem.model.ResizeMode
import dev.tandem.model.TensorLayout

/**
 * `frame_tensors.txt`, written by the Rust reference (`crates/model/src/preprocess/tests.rs`):
 * a 10x8 frame as RGB and as YUV 4:2:0 planes, and per case the preprocessing and the tensor
 * the reference computed.
 */
class FrameFixture private constructor(lines: Map<String, List<String>>, val cases: List<Case>) {
    val width: Int
    val height: Int
    val rgb: IntArray
    val y: IntArray
    val u: IntArray
    val v: IntArray

    init {
        val frame = lines.getValue("frame")
        width = frame[0].toInt()
        height = frame[1].toInt()
        rgb = lines.getValue("rgb").map { it.toInt() }.toIntArray()
        y = lines.getValue("y").map { it.toInt() }.toIntArray()
        u = lines.getValue("u").map { it.toInt() }.toIntArray()
        v = lines.getValue("v").map { it.toInt() }.toIntArray()
    }

    /** The frame as packed ARGB (opaque), as `Bitmap.getPixels` gives it. */
    fun argb(): IntArray = IntArray(width * height) {
        (0xff shl 24) or (rgb[3 * it] shl 16) or (rgb[3 * it + 1] shl 8) or rgb[3 * it + 2]
    }

    data class Case(
        val name: String,
        val yuv: Boolean,
        val crop: FrameTensors.Crop?,
        val spec: Preprocessing,
        val expected: FloatArray,
    )

    companion object {
        fun load(): FrameFixture {
            val text = FrameFixture::class.java.getResource("/frame_tensors.txt")?.readText()
                ?: error("frame_tensors.txt is not on the test classpath")
            val lines = mutableMapOf<String, List<String>>()
            val cases = mutableListOf<Case>()
            var pending: List<String>? = null
            for (line in text.lines().filter { it.isNotBlank() && !it.startsWith("#") }) {
                val words = line.trim().split(" ")
                when (words[0]) {
                    "case" -> pending = words.drop(1)
                    "expected" -> {
                        val c = requireNotNull(pending) { "expected before case" }
                        cases += case(c, words.drop(1).map { it.toFloat() }.toFloatArray())
                        pending = null
                    }
                    else -> lines[words[0]] = words.drop(1)
                }
            }
            return FrameFixture(lines, cases)
        }

        private fun case(w: List<String>, expected: FloatArray): Case {
            val crop = if (w[2] == "none") null else w[2].split(",").map { it.toInt() }.let {
                FrameTensors.Crop(it[0], it[1], it[2], it[3])
            }
            val floats = { s: String -> s.split(",").map { it.toFloat() } }
            val spec = Preprocessing(
                input = null,
                width = w[3].toUInt(),
                height = w[4].toUInt(),
                layout = if (w[5] == "nchw") TensorLayout.NCHW else TensorLayout.NHWC,
                channelOrder = if (w[6] == "rgb") ChannelOrder.RGB else ChannelOrder.BGR,
                resize = if (w[7] == "center_crop") ResizeMode.CENTER_CROP else ResizeMode.STRETCH,
                mean = floats(w[8]),
                std = floats(w[9]),
            )
            return Case(w[0], w[1] == "yuv", crop, spec, expected)
        }
    }
}

/** Largest difference, relative to the magnitude (1e-4 of it, at least 1e-4 absolute). */
fun assertClose(expected: FloatArray, actual: FloatArray, what: String) {
    check(expected.size == actual.size) { "$what: ${actual.size} values, expected ${expected.size}" }
    for (i in expected.indices) {
        val tolerance = 1e-4f * maxOf(1f, Math.abs(expected[i]))
        check(Math.abs(expected[i] - actual[i]) <= tolerance) {
            "$what: value $i is ${actual[i]}, the Rust reference says ${expected[i]}"
        }
    }
}
