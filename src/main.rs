//! The `rdsfleet` binary: a thin shell over the library (see `rdsfleet::cli`).

fn main() {
    std::process::exit(rdsfleet::cli::main());
}
