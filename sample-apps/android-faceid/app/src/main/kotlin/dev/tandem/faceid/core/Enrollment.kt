package dev.tandem.faceid.core

import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.File
import java.io.IOException
import kotlin.math.sqrt

/** dlib's decision threshold on the Euclidean distance between two face descriptors. */
const val DLIB_THRESHOLD = 0.6

/** Thrown by [Enrollment.verify] before anyone is enrolled. */
class NotEnrolledException : IllegalStateException("no face is enrolled: enroll first")

/** The outcome of one verification. */
data class Match(
    /** Euclidean distance between the probe and the enrolled template. */
    val distance: Double,
    /** Whether the distance is below [threshold]: the same person. */
    val isMatch: Boolean,
    /** The threshold used. */
    val threshold: Double,
)

/** Euclidean distance between two descriptors of the same length (computed in doubles). */
fun euclidean(a: FloatArray, b: FloatArray): Double {
    require(a.size == b.size) { "descriptors of ${a.size} and ${b.size} values" }
    var sum = 0.0
    for (i in a.indices) {
        val d = a[i].toDouble() - b[i].toDouble()
        sum += d * d
    }
    return sqrt(sum)
}

/**
 * One enrolled person, as in the Rust pipeline (`tandem_faceid::Enrollment`): the template is
 * the mean of the enrolled descriptors, a probe matches when its Euclidean distance to the
 * template is below [threshold] (dlib's 0.6). The mean cancels part of each photo's noise and
 * is a single 128-float vector to store.
 *
 * Not thread-safe: keep it on one thread (the view model's).
 */
class Enrollment(val threshold: Double = DLIB_THRESHOLD) {
    private var sum: DoubleArray = DoubleArray(0)

    /** Number of enrolled descriptors. */
    var count: Int = 0
        private set

    /** Whether nobody is enrolled. */
    val isEmpty: Boolean get() = count == 0

    /** Adds one face's descriptor to the template. */
    fun add(descriptor: FloatArray) {
        require(descriptor.isNotEmpty() && descriptor.all { it.isFinite() }) { "a descriptor needs finite values" }
        if (count == 0) {
            sum = DoubleArray(descriptor.size)
        } else {
            require(descriptor.size == sum.size) { "descriptor has ${descriptor.size} values, expected ${sum.size}" }
        }
        for (i in descriptor.indices) sum[i] += descriptor[i].toDouble()
        count += 1
    }

    /** The template (the mean descriptor), or `null` before enrolling. */
    val template: FloatArray?
        get() = if (count == 0) null else FloatArray(sum.size) { (sum[it] / count).toFloat() }

    /** Compares a probe with the template. @throws NotEnrolledException before enrolling. */
    fun verify(descriptor: FloatArray): Match {
        val t = template ?: throw NotEnrolledException()
        val distance = euclidean(t, descriptor)
        return Match(distance, distance < threshold, threshold)
    }

    /** Forgets everyone. */
    fun clear() {
        sum = DoubleArray(0)
        count = 0
    }

    /** The template and count as bytes (for [EnrollmentStore]). */
    fun toBytes(): ByteArray {
        val out = ByteArrayOutputStream()
        DataOutputStream(out).use { data ->
            data.writeInt(FORMAT)
            data.writeInt(count)
            data.writeInt(sum.size)
            sum.forEach { data.writeDouble(it) }
        }
        return out.toByteArray()
    }

    companion object {
        private const val FORMAT = 1

        /** Reads what [toBytes] wrote. @throws IOException on anything else. */
        fun fromBytes(bytes: ByteArray, threshold: Double = DLIB_THRESHOLD): Enrollment {
            val data = DataInputStream(bytes.inputStream())
            if (data.readInt() != FORMAT) throw IOException("not an enrollment (unknown format)")
            val count = data.readInt()
            val size = data.readInt()
            if (count < 0 || size !in 0..4096) throw IOException("corrupt enrollment ($count, $size)")
            val sum = DoubleArray(size) { data.readDouble() }
            return Enrollment(threshold).also {
                it.sum = sum
                it.count = if (size == 0) 0 else count
            }
        }
    }
}

/**
 * Keeps the enrollment in one app-private file. A descriptor is biometric data: a production app
 * would also encrypt it with a key from the Android Keystore / iOS Keychain.
 */
class EnrollmentStore(private val file: File) {
    /** The saved enrollment, or an empty one if there is none or it is unreadable. */
    fun load(threshold: Double = DLIB_THRESHOLD): Enrollment =
        try {
            if (file.isFile) Enrollment.fromBytes(file.readBytes(), threshold) else Enrollment(threshold)
        } catch (e: IOException) {
            Enrollment(threshold)
        }

    /** Saves [enrollment] atomically (write, then rename). */
    fun save(enrollment: Enrollment) {
        val tmp = File(file.path + ".tmp")
        tmp.writeBytes(enrollment.toBytes())
        if (!tmp.renameTo(file)) {
            file.delete()
            if (!tmp.renameTo(file)) throw IOException("cannot write ${file.name}")
        }
    }

    /** Deletes the saved enrollment. */
    fun clear() {
        file.delete()
    }
}
