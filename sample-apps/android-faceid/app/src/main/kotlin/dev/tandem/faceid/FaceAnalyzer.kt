package dev.tandem.faceid

import android.graphics.Bitmap
import android.graphics.Matrix
import android.graphics.PointF
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import com.google.mlkit.vision.common.InputImage
import com.google.mlkit.vision.face.Face
import com.google.mlkit.vision.face.FaceDetection
import com.google.mlkit.vision.face.FaceDetectorOptions
import com.google.mlkit.vision.face.FaceLandmark
import dev.tandem.faceid.core.ArgbImage
import dev.tandem.faceid.core.FaceAligner
import dev.tandem.faceid.core.FaceLandmarks
import dev.tandem.faceid.core.Point
import java.util.concurrent.Executor

/**
 * The camera's analyzer: finds the one face of a frame with ML Kit (on the phone, bundled
 * model, works offline), aligns it into the embedder's 150x150 chip ([FaceAligner]) and hands the
 * chip to [onFace]. Frames without exactly one usable face go to [onProblem] with a message.
 *
 * - [wantsFace] is checked first: while a face is being embedded, or until the next attempt is
 *   due, frames are closed at once and nothing else is done with them.
 * - Back-pressure: the [ImageProxy] is closed only when ML Kit has finished with it, so CameraX
 *   (STRATEGY_KEEP_ONLY_LATEST) delivers the next frame only then.
 * - ML Kit's callbacks run on [executor] (the analysis executor), never on the main thread;
 *   only the pixels the alignment reads ([FaceAligner.sourceRegion]) are copied and rotated.
 *
 * The frame never leaves the phone; only the chip's embedding, split by the SDK above the
 * model's privacy floor, does.
 */
class FaceAnalyzer(
    private val wantsFace: () -> Boolean,
    private val onFace: (FloatArray) -> Unit,
    private val onProblem: (String) -> Unit,
    private val executor: Executor,
) : ImageAnalysis.Analyzer {

    private val detector = FaceDetection.getClient(
        FaceDetectorOptions.Builder()
            .setPerformanceMode(FaceDetectorOptions.PERFORMANCE_MODE_FAST)
            .setLandmarkMode(FaceDetectorOptions.LANDMARK_MODE_ALL)
            .setMinFaceSize(0.25f)
            .build(),
    )

    override fun analyze(image: ImageProxy) {
        if (!wantsFace()) {
            image.close()
            return
        }
        val rotation = image.imageInfo.rotationDegrees
        // The analysis use case delivers RGBA_8888 (see MainActivity): one copy into a Bitmap,
        // on the analysis thread; ML Kit rotates it itself.
        val frame = image.toBitmap()
        detector.process(InputImage.fromBitmap(frame, rotation))
            .addOnSuccessListener(executor) { faces -> handle(faces, frame, rotation) }
            .addOnFailureListener(executor) { onProblem("Face detection failed") }
            .addOnCompleteListener(executor) { image.close() }
    }

    private fun handle(faces: List<Face>, frame: Bitmap, rotation: Int) {
        if (faces.size != 1) {
            onProblem(if (faces.isEmpty()) "No face" else "${faces.size} faces: one at a time")
            return
        }
        val face = faces[0]
        val right = face.getLandmark(FaceLandmark.RIGHT_EYE)?.position
        val left = face.getLandmark(FaceLandmark.LEFT_EYE)?.position
        val mouthLeft = face.getLandmark(FaceLandmark.MOUTH_LEFT)?.position
        val mouthRight = face.getLandmark(FaceLandmark.MOUTH_RIGHT)?.position
        if (right == null || left == null || mouthLeft == null || mouthRight == null) {
            onProblem("Face the camera")
            return
        }
        // Landmarks are in upright coordinates.
        val landmarks = FaceLandmarks(
            rightEye = right.toPoint(),
            leftEye = left.toPoint(),
            mouthCenter = Point((mouthLeft.x + mouthRight.x) / 2.0, (mouthLeft.y + mouthRight.y) / 2.0),
        )
        val uprightWidth = if (rotation % 180 == 0) frame.width else frame.height
        val uprightHeight = if (rotation % 180 == 0) frame.height else frame.width
        val region = FaceAligner.sourceRegion(landmarks, uprightWidth, uprightHeight)
        if (region == null) {
            onProblem("Face the camera")
            return
        }
        // Only the region the alignment reads, rotated upright.
        val src = region.inSource(rotation, frame.width, frame.height)
        val matrix = Matrix().apply { postRotate(rotation.toFloat()) }
        val crop = Bitmap.createBitmap(frame, src.x, src.y, src.width, src.height, matrix, false)
        val pixels = IntArray(crop.width * crop.height)
        crop.getPixels(pixels, 0, crop.width, 0, 0, crop.width, crop.height)
        val local = FaceLandmarks(
            region.local(landmarks.rightEye),
            region.local(landmarks.leftEye),
            region.local(landmarks.mouthCenter),
        )
        onFace(FaceAligner.align(ArgbImage(crop.width, crop.height, pixels), local))
    }

    /** Releases ML Kit's detector. */
    fun close() = detector.close()
}

private fun PointF.toPoint() = Point(x.toDouble(), y.toDouble())
