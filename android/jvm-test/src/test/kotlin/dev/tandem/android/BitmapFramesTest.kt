package dev.tandem.android

import android.graphics.Bitmap
import dev.tandem.FrameFixture
import dev.tandem.assertClose
import dev.tandem.toFloatArray
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/** `Bitmap.toTensor` on Robolectric's Android 14 Bitmap, against the Rust reference tensors. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class BitmapFramesTest {
    @Test
    fun `a bitmap gives the Rust reference tensors`() {
        val fixture = FrameFixture.load()
        val bitmap = Bitmap.createBitmap(fixture.width, fixture.height, Bitmap.Config.ARGB_8888)
        bitmap.setPixels(fixture.argb(), 0, fixture.width, 0, 0, fixture.width, fixture.height)
        val cases = fixture.cases.filter { !it.yuv }
        assertTrue(cases.isNotEmpty())
        for (case in cases) {
            assertClose(case.expected, bitmap.toTensor(case.spec, case.crop).toFloatArray(), "${case.name} (Bitmap)")
        }
    }
}
