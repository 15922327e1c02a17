fn main() {
    std::process::exit(justpush::cli::run());
}
