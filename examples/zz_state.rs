fn main() {
    let path = std::env::args().nth(1).unwrap();
    let f = loam::loam_storage::file::WorldFile::open_read_only(std::path::Path::new(&path)).unwrap();
    let bytes = f.state().unwrap().unwrap();
    let s = loam::loam_runtime::state::SavedState::decode(&bytes).unwrap();
    for (name, b) in &s.sections { println!("{name}: {} bytes", b.len()); }
}
