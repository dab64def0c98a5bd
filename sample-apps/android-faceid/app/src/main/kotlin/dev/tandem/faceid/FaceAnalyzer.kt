package dev.tandem.faceid

import android.graphics.Bitmap
import android.graphics.Matrix
import android.graphics.PointF
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import com.google.mlkit.vision.common.InputImage
import com.google.mlkit.vision.face.FaceDetection
import com.google.mlkit.vision.face.FaceDetectorOptions
import com.google.mlkit.vision.face.FaceLandmark
import dev.tandem.faceid.core.ArgbImage
import dev.tandem.faceid.core.FaceAligner
import dev.tandem.faceid.core.FaceLandmarks
import dev.tandem.faceid.core.Point

/**
 * The camera's analyzer: finds the one face of a frame with ML Kit (on the phone, bundled
 * model, works offline), aligns it into the embedder's 150x150 chip ([FaceAligner]) and hands the
 * chip to [onFace]. Frames without exactly one usable face go to [onProblem] with a message.
 *
 * [isBusy] is checked first: while a previous face is still being embedded, frames are dropped
 * (CameraX keeps only the latest anyway). The frame never leaves the phone; only the chip's
 * embedding, split by the SDK with the privacy floor, does.
 */
class FaceAnalyzer(
    private val isBusy: () -> Boolean,
    private val onFace: (FloatArray) -> Unit,
    private val onProblem: (String) -> Unit,
) : ImageAnalysis.Analyzer {

    private val detector = FaceDetection.getClient(
        FaceDetectorOptions.Builder()
            .setPerformanceMode(FaceDetectorOptions.PERFORMANCE_MODE_FAST)
            .setLandmarkMode(FaceDetectorOptions.LANDMARK_MODE_ALL)
            .setMinFaceSize(0.25f)
            .build(),
    )

    override fun analyze(image: ImageProxy) {
        if (isBusy()) {
            image.close()
            return
        }
        // Upright RGB (the analysis use case delivers RGBA_8888; see MainActivity).
        val bitmap = upright(image.toBitmap(), image.imageInfo.rotationDegrees)
        image.close()
        detector.process(InputImage.fromBitmap(bitmap, 0))
            .addOnSuccessListener { faces ->
                when {
                    faces.isEmpty() -> onProblem("No face")
                    faces.size > 1 -> onProblem("${faces.size} faces: one at a time")
                    else -> {
                        val face = faces[0]
                        val right = face.getLandmark(FaceLandmark.RIGHT_EYE)?.position
                        val left = face.getLandmark(FaceLandmark.LEFT_EYE)?.position
                        val mouthLeft = face.getLandmark(FaceLandmark.MOUTH_LEFT)?.position
                        val mouthRight = face.getLandmark(FaceLandmark.MOUTH_RIGHT)?.position
                        if (right == null || left == null || mouthLeft == null || mouthRight == null) {
                            onProblem("Face the camera")
                        } else {
                            val landmarks = FaceLandmarks(
                                rightEye = right.toPoint(),
                                leftEye = left.toPoint(),
                                mouthCenter = Point(
                                    (mouthLeft.x + mouthRight.x) / 2.0,
                                    (mouthLeft.y + mouthRight.y) / 2.0,
                                ),
                            )
                            onFace(FaceAligner.align(bitmap.toArgbImage(), landmarks))
                        }
                    }
                }
            }
            .addOnFailureListener { onProblem("Face detection failed") }
    }

    /** Releases ML Kit's detector. */
    fun close() = detector.close()
}

private fun PointF.toPoint() = Point(x.toDouble(), y.toDouble())

private fun upright(bitmap: Bitmap, rotationDegrees: Int): Bitmap {
    if (rotationDegrees == 0) return bitmap
    val matrix = Matrix().apply { postRotate(rotationDegrees.toFloat()) }
    return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
}

private fun Bitmap.toArgbImage(): ArgbImage {
    val pixels = IntArray(width * height)
    getPixels(pixels, 0, width, 0, 0, width, height)
    return ArgbImage(width, height, pixels)
}
