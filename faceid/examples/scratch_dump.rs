// temporary scratch, deleted before handing back
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let f = tandem_faceid::RgbFrame::load(&args[1]).unwrap();
    std::fs::write(format!("{}.rgb", args[2]), f.data()).unwrap();
    let (t, _) = tandem_faceid::letterbox(&f);
    let v = t.to_f32().unwrap();
    let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(format!("{}.lb", args[2]), b).unwrap();
}
