// The tests' `eventually` is the one users get from ChronicleTesting.
@_exported import ChronicleTesting
