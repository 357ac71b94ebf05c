//! Trains the offline models from `data/leads.tsv` (training rows only; every
//! 5th row is held out) and writes them to OUT_DIR for `include_bytes!`.

#[path = "src/dataset.rs"]
mod dataset;
#[path = "src/text.rs"]
mod text;
#[path = "src/train.rs"]
mod train;

use std::{env, fs, path::PathBuf};

/// Picks one label column of an example.
type Label = for<'a> fn(&'a dataset::Example<'a>) -> &'a str;

fn main() {
    println!("cargo::rerun-if-changed=data/leads.tsv");
    println!("cargo::rerun-if-changed=src/dataset.rs");
    println!("cargo::rerun-if-changed=src/text.rs");
    println!("cargo::rerun-if-changed=src/train.rs");

    let tsv = fs::read_to_string("data/leads.tsv").expect("read data/leads.tsv");
    let examples = dataset::parse(&tsv).unwrap_or_else(|e| panic!("data/leads.tsv: {e}"));
    let training: Vec<&dataset::Example> = examples.iter().filter(|e| !e.is_held_out()).collect();
    let features: Vec<Vec<(u32, f32)>> = training.iter().map(|e| text::features(e.text)).collect();

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let tasks: [(&str, &[&str], Label, train::Params); 3] = [
        ("intent", &dataset::INTENTS, |e| e.intent, train::Params::INTENT),
        ("temperature", &dataset::TEMPERATURES, |e| e.temperature, train::Params::default()),
        ("language", &dataset::LANGUAGES, |e| e.language, train::Params::default()),
    ];
    for (name, classes, label, params) in tasks {
        let labelled: Vec<(Vec<(u32, f32)>, usize)> = training
            .iter()
            .zip(&features)
            .map(|(e, f)| (f.clone(), classes.iter().position(|c| *c == label(e)).expect("label validated by parse")))
            .collect();
        let model = train::train(classes, &labelled, params);
        fs::write(out.join(format!("{name}.bin")), model.encode()).expect("write model");
    }
}
