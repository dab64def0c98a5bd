// FaceID sample app on the Tandem Android library. Open this folder in Android Studio (it builds
// the library from source through the included build below, Rust core included: see
// sample-apps/README.md for the toolchain).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "tandem-faceid"
include(":app")

// The Tandem library project (android/, module :tandem, coordinates dev.tandem:tandem):
// `implementation("dev.tandem:tandem:0.1.0")` in app/build.gradle.kts resolves to it.
includeBuild("../../android")
