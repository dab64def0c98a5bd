package dev.tandem

import dev.tandem.model.DType
import dev.tandem.model.Tensor
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A float32 tensor from [values] in row-major order.
 *
 * @param name the model input's name; empty takes the name of the input at its position.
 */
fun Tensor.Companion.float32(values: FloatArray, shape: IntArray, name: String = ""): Tensor {
    require(shape.fold(1L) { n, d -> n * d } == values.size.toLong()) {
        "shape ${shape.contentToString()} holds ${shape.fold(1L) { n, d -> n * d }} values, got ${values.size}"
    }
    val bytes = ByteBuffer.allocate(values.size * Float.SIZE_BYTES).order(ByteOrder.LITTLE_ENDIAN)
    bytes.asFloatBuffer().put(values)
    return Tensor(name, DType.FP32, shape.map { it.toULong() }, bytes.array())
}

/** A uint8 tensor (e.g. camera pixels) from [values] in row-major order. */
fun Tensor.Companion.uint8(values: ByteArray, shape: IntArray, name: String = ""): Tensor {
    require(shape.fold(1L) { n, d -> n * d } == values.size.toLong()) {
        "shape ${shape.contentToString()} holds ${shape.fold(1L) { n, d -> n * d }} values, got ${values.size}"
    }
    return Tensor(name, DType.UINT8, shape.map { it.toULong() }, values)
}

/** The values of a float32 tensor. */
fun Tensor.toFloatArray(): FloatArray {
    check(dtype == DType.FP32) { "tensor `$name` is $dtype, not FP32" }
    val floats = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    return FloatArray(floats.remaining()).also { floats.get(it) }
}

/** The shape as `Int`s (every dimension of a tensor that fits in memory fits in an `Int`). */
val Tensor.dims: IntArray
    get() = IntArray(shape.size) { shape[it].toInt() }

/** The tensor called [name], e.g. `result.outputs["descriptor"]`; `null` if there is none. */
operator fun List<Tensor>.get(name: String): Tensor? = firstOrNull { it.name == name }
