package dev.tandem.android

import android.graphics.Bitmap
import dev.tandem.FrameTensors
import dev.tandem.model.Preprocessing
import dev.tandem.model.ResizeMode
import dev.tandem.model.Tensor

/**
 * This bitmap as the model input [spec] describes (usually `tandem.modelInfo.preprocessing`),
 * from [crop] (a face box, say) or the whole bitmap. Reads only the sampled region's pixels
 * (one `getPixels` of that region, never the full frame). Call it off the main thread.
 */
fun Bitmap.toTensor(spec: Preprocessing, crop: FrameTensors.Crop? = null): Tensor =
    FrameTensors.tensor(spec, toFloats(spec, crop))

/** [toTensor]'s values, e.g. for [FrameTensors.directBuffer] and `Tandem.inferFrame`. */
fun Bitmap.toFloats(spec: Preprocessing, crop: FrameTensors.Crop? = null): FloatArray {
    val r = requireNotNull(FrameTensors.region(width, height, crop, spec)) {
        "the crop $crop is outside the ${width}x$height bitmap"
    }
    val pixels = IntArray(r.width * r.height)
    // ARGB_8888 whatever the bitmap's config: getPixels converts
    getPixels(pixels, 0, r.width, r.x, r.y, r.width, r.height)
    // the region is already fitted to the output's aspect ratio: sample all of it
    return FrameTensors.floats(r.width, r.height, null, spec.copy(resize = ResizeMode.STRETCH)) { x, y, rgb ->
        val p = pixels[y * r.width + x]
        rgb[0] = ((p shr 16) and 0xff).toFloat()
        rgb[1] = ((p shr 8) and 0xff).toFloat()
        rgb[2] = (p and 0xff).toFloat()
    }
}
