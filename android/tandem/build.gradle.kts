import org.jetbrains.kotlin.gradle.dsl.JvmTarget

import java.util.Properties

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    id("maven-publish")
}

group = "dev.tandem"
version = "0.1.0"

// The repository root (android/tandem/../..): the Cargo workspace the native library is built
// from, wherever this module is included from (this project or an app's settings).
val cargoWorkspace: File = projectDir.resolve("../..").canonicalFile

android {
    namespace = "dev.tandem"
    compileSdk = 35
    // The NDK the Rust library is linked with: AGP resolves it in the SDK (and installs it when
    // the SDK manager may), and the cargo-ndk task below gets its path from AGP, not from the
    // daemon's environment.
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 26
        // JNA and the generated bindings are kept by these rules in every consuming app.
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            // src/main/kotlin: platform-independent API (also compiled and tested on the desktop JVM
            // by android/jvm-test); src/main/kotlinAndroid: what needs the Android SDK; the
            // generated UniFFI bindings (not committed) are added below.
            // src/main/kotlinCameraX: the CameraX ImageProxy adapter (compileOnly CameraX).
            java.srcDirs("src/main/kotlin", "src/main/kotlinAndroid", "src/main/kotlinCameraX")
            jniLibs.srcDir("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // JNA as an AAR: it carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    // ImageProxy.toTensor: apps that use it have CameraX already; others never load the class.
    compileOnly("androidx.camera:camera-core:1.4.1")
    // The generated bindings' Android cleaner is off (see bindings/uniffi.toml), so they need no
    // androidx.annotation.
}

/** Generates the Kotlin bindings from the host build of the library (UniFFI library mode). */
abstract class GenerateUniffiBindings : DefaultTask() {
    @get:Internal
    abstract val repoRoot: DirectoryProperty

    @get:InputFiles
    @get:PathSensitive(PathSensitivity.RELATIVE)
    abstract val rustSources: ConfigurableFileCollection

    @get:OutputDirectory
    abstract val outputDir: DirectoryProperty

    @get:Inject
    abstract val execOperations: ExecOperations

    /** PATH for cargo (see pathWithCargo). */
    @get:Internal
    abstract val path: Property<String>

    @TaskAction
    fun generate() {
        val staging = temporaryDir
        execOperations.exec {
            workingDir = repoRoot.get().asFile
            commandLine("bash", "bindings/scripts/generate.sh", staging.absolutePath, "kotlin")
            environment("PATH", path.get())
        }
        val out = outputDir.get().asFile
        out.deleteRecursively()
        File(staging, "kotlin").copyRecursively(out)
    }
}

val generateUniffiBindings = tasks.register<GenerateUniffiBindings>("generateUniffiBindings") {
    repoRoot.set(cargoWorkspace)
    rustSources.from(
        fileTree(File(cargoWorkspace, "bindings/src")),
        fileTree(File(cargoWorkspace, "crates")),
        File(cargoWorkspace, "bindings/uniffi.toml"),
        File(cargoWorkspace, "bindings/uniffi-crates.toml"),
        File(cargoWorkspace, "Cargo.lock"),
    )
    outputDir.set(layout.buildDirectory.dir("generated/uniffi/kotlin"))
    path.set(pathWithCargo())
}

/**
 * `cargo`, found the way Android Studio users expect when it is started from the Dock (whose
 * PATH lacks ~/.cargo/bin): `cargo.dir` in local.properties (the folder holding `cargo`), else
 * $CARGO_HOME/bin, else ~/.cargo/bin, else the PATH.
 */
fun cargoBinDir(): File? {
    val local = Properties()
    rootProject.file("local.properties").takeIf { it.isFile }?.reader()?.use { local.load(it) }
    val candidates = listOfNotNull(
        local.getProperty("cargo.dir")?.let { File(it) },
        System.getenv("CARGO_HOME")?.let { File(it, "bin") },
        File(System.getProperty("user.home"), ".cargo/bin"),
    )
    return candidates.firstOrNull { File(it, "cargo").canExecute() }
}

/** PATH with cargo's folder first, for the Exec tasks that run cargo. */
fun pathWithCargo(): String {
    val path = System.getenv("PATH") ?: ""
    return cargoBinDir()?.let { "${it.absolutePath}${File.pathSeparator}$path" } ?: path
}

/** Builds libtandem_ffi.so for every ABI into src/main/jniLibs with cargo-ndk. */
val cargoNdkBuild = tasks.register<Exec>("cargoNdkBuild") {
    description = "Builds the Rust library for arm64-v8a, armeabi-v7a and x86_64 (16 KB pages)."
    workingDir = cargoWorkspace
    commandLine("bash", "android/scripts/build-jni-libs.sh", "release-mobile")
    environment("PATH", pathWithCargo())
    // AGP's NDK (android.ndkVersion above, or ndk.dir in local.properties), for cargo-ndk
    val ndk = androidComponents.sdkComponents.ndkDirectory
    doFirst {
        environment("ANDROID_NDK_HOME", ndk.get().asFile.absolutePath)
    }
    inputs.files(
        fileTree(File(cargoWorkspace, "bindings/src")),
        fileTree(File(cargoWorkspace, "crates")),
        File(cargoWorkspace, "Cargo.lock"),
    )
    outputs.dir("src/main/jniLibs")
}

androidComponents {
    onVariants { variant ->
        variant.sources.java?.addGeneratedSourceDirectory(
            generateUniffiBindings,
            GenerateUniffiBindings::outputDir,
        )
    }
}

tasks.named("preBuild") {
    dependsOn(cargoNdkBuild)
}

/** Checks every packaged .so for 16 KB page alignment (scripts/check-16kb-alignment.sh). */
val check16kbAlignment = tasks.register<Exec>("check16kbAlignment") {
    description = "Fails when a .so in the release AAR has a LOAD segment aligned below 16 KB."
    dependsOn("bundleReleaseAar")
    workingDir = cargoWorkspace
    val ndk = androidComponents.sdkComponents.ndkDirectory
    val aar = layout.buildDirectory.file("outputs/aar/tandem-release.aar")
    doFirst {
        environment("ANDROID_NDK_HOME", ndk.get().asFile.absolutePath)
        commandLine("bash", "android/scripts/check-16kb-alignment.sh", aar.get().asFile.absolutePath)
    }
}

// `gradle :tandem:publishReleasePublicationToLocalRepository` writes the AAR, its sources and
// its POM (dependencies: JNA's aar, coroutines) to android/build/repo; `publishToMavenLocal`
// to ~/.m2. Not run here: it needs the Android SDK and NDK (see android/README.md).
publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "dev.tandem"
            artifactId = "tandem-android"
            version = project.version.toString()
            afterEvaluate { from(components["release"]) }
            pom {
                name.set("Tandem for Android")
                description.set("Split DNN inference between an Android phone and an edge server.")
                licenses { license { name.set("Apache-2.0") } }
            }
        }
    }
    repositories {
        maven {
            name = "local"
            url = uri(rootProject.layout.buildDirectory.dir("repo"))
        }
    }
}
