package dev.tandem.android

import android.graphics.ImageFormat
import android.graphics.PixelFormat
import androidx.camera.core.ImageProxy
import dev.tandem.FrameTensors
import dev.tandem.model.Preprocessing
import dev.tandem.model.Tensor

// Compiled only by the Gradle build (CameraX is a compileOnly dependency there, from Google's
// Maven repository, which the desktop JVM tests cannot reach): a thin adapter that hands the
// planes to FrameTensors, whose YUV and RGBA paths are tested on the JVM.

/**
 * This CameraX frame (YUV_420_888, the analysis default, or RGBA_8888) as the model input
 * [spec] describes, from [crop] or the whole frame. Reads only the sampled region. It does not
 * rotate: use `imageInfo.rotationDegrees` to rotate the crop, or set the analysis target
 * rotation. Call it on the analyzer's executor; close the proxy afterwards.
 *
 * @throws IllegalArgumentException for another image format.
 */
fun ImageProxy.toTensor(spec: Preprocessing, crop: FrameTensors.Crop? = null): Tensor = when (format) {
    ImageFormat.YUV_420_888 -> {
        val (y, u, v) = planes
        FrameTensors.fromYuv420(
            y.buffer, y.rowStride, y.pixelStride,
            u.buffer, v.buffer, u.rowStride, u.pixelStride,
            width, height, spec, crop,
        )
    }
    PixelFormat.RGBA_8888 -> {
        val rgba = planes[0]
        FrameTensors.fromRgba(rgba.buffer, width, height, rgba.rowStride, rgba.pixelStride, spec, crop)
    }
    else -> throw IllegalArgumentException("image format $format: expected YUV_420_888 or RGBA_8888")
}
