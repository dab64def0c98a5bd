package dev.tandem.faceid.core

import java.io.File
import java.io.IOException
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class EnrollmentTest {
    @Test
    fun verifyBeforeEnrollingThrows() {
        assertThrows(NotEnrolledException::class.java) { Enrollment().verify(floatArrayOf(0f, 1f)) }
        assertNull(Enrollment().template)
    }

    @Test
    fun templateIsTheMeanAndTheThresholdIsStrict() {
        val e = Enrollment()
        e.add(floatArrayOf(0f, 0f))
        e.add(floatArrayOf(1f, 0f))
        assertArrayEquals(floatArrayOf(0.5f, 0f), e.template, 0f)
        val near = e.verify(floatArrayOf(0.5f, 0.5f))
        assertEquals(0.5, near.distance, 1e-12)
        assertTrue(near.isMatch)
        assertFalse(e.verify(floatArrayOf(0.5f, 0.75f)).isMatch)
        assertFalse(Enrollment(threshold = 0.4).also { it.add(floatArrayOf(0.5f, 0f)) }.verify(floatArrayOf(0.5f, 0.5f)).isMatch)
        assertThrows(IllegalArgumentException::class.java) { e.add(floatArrayOf(1f)) }
        assertThrows(IllegalArgumentException::class.java) { e.add(floatArrayOf(Float.NaN, 0f)) }
    }

    @Test
    fun bytesRoundTripAndGarbageIsRefused() {
        val e = Enrollment().also {
            it.add(floatArrayOf(0.25f, -1f, 3f))
            it.add(floatArrayOf(0.75f, 1f, 1f))
        }
        val back = Enrollment.fromBytes(e.toBytes())
        assertEquals(2, back.count)
        assertArrayEquals(e.template, back.template, 0f)
        assertThrows(IOException::class.java) { Enrollment.fromBytes(byteArrayOf(0, 0, 0, 9, 1, 2)) }
        assertThrows(IOException::class.java) { Enrollment.fromBytes(ByteArray(0)) }
    }

    @Test
    fun storeSavesLoadsAndClears() {
        val dir = kotlin.io.path.createTempDirectory("faceid").toFile()
        try {
            val store = EnrollmentStore(File(dir, "enrollment.bin"))
            assertTrue(store.load().isEmpty)
            store.save(Enrollment().also { it.add(floatArrayOf(1f, 2f)) })
            assertArrayEquals(floatArrayOf(1f, 2f), store.load().template, 0f)
            File(dir, "enrollment.bin").writeBytes(byteArrayOf(1, 2, 3))
            assertTrue("a corrupt file reads as not enrolled", store.load().isEmpty)
            store.clear()
            assertTrue(store.load().isEmpty)
        } finally {
            dir.deleteRecursively()
        }
    }
}
