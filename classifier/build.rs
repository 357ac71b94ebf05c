//! Trains the offline models from `data/leads.tsv` (training rows only; every
//! 5th row is held out) and writes them to OUT_DIR for `include_bytes!`.
//!
//! The models learn from what the library will score: the message without
//! quoted email text and without sentences that instruct the classifier
//! (`injection::prepare`). Messages that are nothing but such sentences
//! are spam by rule, so they teach the models nothing.

#[path = "src/dataset.rs"]
#[allow(dead_code)]
mod dataset;
#[path = "src/injection.rs"]
#[allow(dead_code)]
mod injection;
#[path = "src/text.rs"]
mod text;
#[path = "src/train.rs"]
mod train;

use std::{env, fs, path::PathBuf};

/// Picks one label column of an example.
type Label = for<'a> fn(&'a dataset::Example<'a>) -> &'a str;

fn main() {
    for path in ["data/leads.tsv", "src/dataset.rs", "src/injection.rs", "src/text.rs", "src/train.rs"] {
        println!("cargo::rerun-if-changed={path}");
    }

    let tsv = fs::read_to_string("data/leads.tsv").expect("read data/leads.tsv");
    let examples = dataset::parse(&tsv).unwrap_or_else(|e| panic!("data/leads.tsv: {e}"));
    let mut training: Vec<&dataset::Example> = Vec::new();
    let mut features: Vec<Vec<(u32, f32)>> = Vec::new();
    for example in examples.iter().filter(|e| !e.is_held_out()) {
        let scan = injection::prepare(&example.text);
        if !scan.is_pure() {
            training.push(example);
            features.push(text::features(&scan.residue));
        }
    }

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let tasks: [(&str, &[&str], Label, train::Params); 2] = [
        ("intent", &dataset::INTENTS, |e| e.intent, train::Params::INTENT),
        ("temperature", &dataset::TEMPERATURES, |e| e.temperature, train::Params::TEMPERATURE),
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
