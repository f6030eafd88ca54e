//! Compiles the Device Lock Controller's `.proto` files with protox (a protobuf compiler
//! in Rust), so building needs no `protoc` binary and downloads nothing.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/devicelockcontroller/common.proto",
        "proto/devicelockcontroller/checkin_service.proto",
        "proto/devicelockcontroller/finalize_service.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
