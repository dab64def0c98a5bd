import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

group = "dev.tandem"
version = "0.1.0"

// The repository root (android/tandem/../..): the Cargo workspace the native library is built
// from, wherever this module is included from (this project or an app's settings).
val cargoWorkspace: File = projectDir.resolve("../..").canonicalFile

android {
    namespace = "dev.tandem"
    compileSdk = 35

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
            java.srcDirs("src/main/kotlin", "src/main/kotlinAndroid")
            jniLibs.srcDir("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
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

    @TaskAction
    fun generate() {
        val staging = temporaryDir
        execOperations.exec {
            workingDir = repoRoot.get().asFile
            commandLine("bash", "bindings/scripts/generate.sh", staging.absolutePath, "kotlin")
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
}

/** Builds libtandem_ffi.so for every ABI into src/main/jniLibs with cargo-ndk. */
val cargoNdkBuild = tasks.register<Exec>("cargoNdkBuild") {
    description = "Builds the Rust library for arm64-v8a, armeabi-v7a and x86_64 (16 KB pages)."
    workingDir = cargoWorkspace
    commandLine("bash", "android/scripts/build-jni-libs.sh", "release-mobile")
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
