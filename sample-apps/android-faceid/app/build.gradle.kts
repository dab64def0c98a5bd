import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

// The repository's models/ folder: the app ships the same face_embedder.onnx the edge serves
// (the SDK compares their SHA-256 before offloading).
val modelsDir: File = rootDir.resolve("../../models").canonicalFile

fun quoted(value: String): String =
    "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "") + "\""

// A development edge with a self-signed certificate: `-Ptandem.edgeCaFile=path/to/ca.pem`
// (relative to this project) bakes that PEM into the build as an extra trusted root.
val edgeCaPem: String = providers.gradleProperty("tandem.edgeCaFile")
    .map { rootDir.resolve(it).readText() }
    .getOrElse("")

android {
    namespace = "dev.tandem.faceid"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.tandem.faceid"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "EDGE_URL", quoted(providers.gradleProperty("tandem.edgeUrl").getOrElse("")))
        buildConfigField("String", "EDGE_TOKEN", quoted(providers.gradleProperty("tandem.edgeToken").getOrElse("")))
        buildConfigField("String", "EDGE_CA_PEM", quoted(edgeCaPem))
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    sourceSets {
        getByName("main") {
            java.srcDirs("src/main/kotlin")
            assets.srcDir(layout.buildDirectory.dir("generated/model-assets"))
        }
        getByName("test") {
            java.srcDirs("src/test/kotlin")
        }
    }

    androidResources {
        // The model is read once into the app's files; no point compressing 22 MB of floats.
        noCompress += "onnx"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    testOptions {
        unitTests.all {
            it.systemProperty("tandem.models", modelsDir.path)
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

/** Copies the embedder (only it: the detector on Android is ML Kit's) into the app's assets. */
val copyModel = tasks.register<Copy>("copyModel") {
    from(modelsDir) { include("face_embedder.onnx") }
    into(layout.buildDirectory.dir("generated/model-assets"))
}
tasks.named("preBuild") { dependsOn(copyModel) }

dependencies {
    // The Tandem library, built from ../../android (settings.gradle.kts includes it).
    implementation("dev.tandem:tandem:0.1.0")

    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.core:core-ktx:1.15.0")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.8.7")
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.8.7")
    implementation(platform("androidx.compose:compose-bom:2024.12.01"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.material3:material3")

    val camerax = "1.4.1"
    implementation("androidx.camera:camera-core:$camerax")
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")

    // Face detection with landmarks, model bundled in the APK: works offline, no Play services.
    implementation("com.google.mlkit:face-detection:16.1.7")

    testImplementation("junit:junit:4.13.2")
}
