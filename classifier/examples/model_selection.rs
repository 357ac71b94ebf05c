//! Prints the cross-validated figures that chose the offline models'
//! settings: intent macro-F1 (overall, per class, per language, per
//! channel), hot precision/recall by threshold, and the language detector's
//! whatlang weight. Model selection, not a test:
//! `cargo run --release -p frontdesk-classifier --features model-selection --example model_selection [-- --grid]`.

use frontdesk_classifier::{HOT_THRESHOLD, language::WHATLANG_WEIGHT, model_selection};

fn main() {
    let chosen = model_selection::chosen();
    println!("{}: intent macro-F1 {:.4}", chosen.description, chosen.macro_f1);
    for (class, f1) in &chosen.per_class {
        println!("  {class:<20} {f1:.3}");
    }
    for (language, f1) in &chosen.per_language {
        println!("  language {language:<11} macro-F1 {f1:.3}");
    }
    for (channel, f1) in &chosen.per_channel {
        println!("  channel {channel:<12} macro-F1 {f1:.3}");
    }
    println!("hot threshold (chosen {HOT_THRESHOLD}): cross-validated precision / recall");
    for (threshold, precision, recall) in model_selection::hot_thresholds() {
        println!("  {threshold:.2}: precision {precision:.3} recall {recall:.3}");
    }
    println!("whatlang weight (chosen {WHATLANG_WEIGHT}): accuracy on training rows of 20+ characters");
    for (weight, accuracy) in model_selection::language_weights() {
        println!("  {weight:>5.1}: {accuracy:.3}");
    }
    if std::env::args().any(|a| a == "--grid") {
        for r in model_selection::grid() {
            println!("{}: cv macro-F1 {:.3}", r.description, r.macro_f1);
        }
    }
}
