//! Text normalisation and feature hashing.
//!
//! This file is compiled twice: by `build.rs` (training) and by the library
//! (prediction), so it may only use `std`. Training and prediction must see
//! byte-identical features or the embedded weights mean nothing.

/// Hashed feature ids live in a 2^22 space: collisions are rare at our
/// vocabulary size, and the model only stores ids that occurred in training.
const FEATURE_BITS: u32 = 22;

/// Lowercases, folds Latin accents (so "clase", "cláse" and "CLASE" meet),
/// turns emoji into word tokens, URLs into `urltok`, digit runs into `0`, and
/// punctuation into spaces (keeping `?`, which marks questions).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for raw in text.split_whitespace() {
        if looks_like_url(raw) {
            out.push_str(" urltok ");
            continue;
        }
        let mut in_digits = false;
        for ch in raw.chars() {
            if ch.is_ascii_digit() {
                if !in_digits {
                    out.push('0');
                }
                in_digits = true;
                continue;
            }
            in_digits = false;
            if let Some(name) = emoji_token(ch) {
                out.push(' ');
                out.push_str(name);
                out.push(' ');
            } else if ch == '?' || ch == '¿' {
                out.push_str(" ? ");
            } else if matches!(ch, '$' | '€' | '£') {
                out.push_str(" moneytok ");
            } else if ch.is_alphabetic() {
                for lower in ch.to_lowercase() {
                    out.push(fold_accent(lower));
                }
            } else if ch == '\'' || ch == '’' {
                // "can't" → "cant", "what's" → "whats": matches how people text.
            } else {
                out.push(' ');
            }
        }
        out.push(' ');
    }
    out
}

fn looks_like_url(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase();
    if t.contains("://") || t.starts_with("www.") {
        return true;
    }
    // bare domains like "bit.ly/x" or "win-prizes.co": letters, a dot, a 2-4 letter TLD
    let host = t.split('/').next().unwrap_or("");
    match host.rsplit_once('.') {
        Some((name, tld)) => {
            name.chars().any(|c| c.is_ascii_alphabetic())
                && (2..=4).contains(&tld.len())
                && tld.chars().all(|c| c.is_ascii_alphabetic())
                && !name.ends_with('.')
        }
        None => false,
    }
}

fn fold_accent(ch: char) -> char {
    match ch {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        other => other,
    }
}

/// Emoji carry intent and mood ("😡" in a complaint, "🚀💰" in crypto spam),
/// so the common ones become words; the rest share one token.
fn emoji_token(ch: char) -> Option<&'static str> {
    let name = match ch {
        '😡' | '🤬' | '😠' | '😤' | '👎' => "emoangry",
        '😔' | '😕' | '😢' | '😞' => "emosad",
        '🔥' | '💪' | '🙌' | '🚴' | '💃' => "emohype",
        '😊' | '🙂' | '😄' | '😁' | '👋' | '👍' | '🎉' | '🎄' | '🌞' => "emohappy",
        '🙏' => "emoplease",
        '🚀' | '💰' | '💸' | '📈' | '📊' | '🤑' | '💳' => "emomoney",
        '😘' | '😎' | '🎁' => "emobait",
        '❤' | '💑' | '🤝' => "emoheart",
        _ => {
            let c = ch as u32;
            let pictographic = (0x1F300..=0x1FAFF).contains(&c) || (0x2600..=0x27BF).contains(&c);
            return pictographic.then_some("emoji");
        }
    };
    Some(name)
}

/// Word uni/bi-grams plus character 1–4-grams of each word (with boundary
/// marks), plus the hand-written cue features of [`cue`]. Character grams make
/// "cancle", "membrship" and "cuánto"/"cuanto" share most of their features
/// with the correct spelling.
///
/// Returns sorted, de-duplicated feature ids with L2-normalised binary values.
pub fn features(text: &str) -> Vec<(u32, f32)> {
    features_with(text, &FeatureSpec::DEFAULT)
}

/// Feature-set knobs, chosen by cross-validation on the training rows
/// (`model_selection`), never on the held-out rows.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSpec {
    pub char_min: usize,
    pub char_max: usize,
    /// Weight of word uni/bi-gram features relative to character grams.
    pub word_weight: f32,
    /// Weight of cue features (see [`cue`]); 0 disables them.
    pub cue_weight: f32,
}

impl FeatureSpec {
    pub const DEFAULT: FeatureSpec = FeatureSpec { char_min: 1, char_max: 4, word_weight: 2.0, cue_weight: 8.0 };
}

/// Hand-written cue words in the seven supported languages (normalised form:
/// lowercase, accents folded, apostrophes dropped), for what a few hundred
/// rows per language cannot teach the word and character grams reliably:
///
/// - grievances (`cue_fault`, `cue_dispute`, `cue_staff`, `cue_angry`) and
///   the catch-all "other" (`cue_thanks`, `cue_place`, `cue_business`);
/// - the intents' core words (`cue_price`, `cue_cancel`, `cue_trial`,
///   `cue_free`, `cue_sched`, `cue_member`, `cue_spam`), so a pricing
///   question learned in English helps with one in Dutch;
/// - readiness (`cue_now`, `cue_day`, `cue_commit`, `cue_pay`, `cue_party`)
///   and its opposite (`cue_later`), for the temperature model.
///
/// Each cue is one shared feature. An entry is a word prefix, or a whole
/// word when it ends in `=` (short words like "nu" or "ya" would otherwise
/// match "numero" and "yard"); the longest matching entry wins.
fn cue(word: &str) -> Option<&'static str> {
    let first = *word.as_bytes().first()?;
    let from = CUES.partition_point(|(entry, _)| entry.as_bytes()[0] < first);
    let mut best: Option<(usize, &'static str)> = None;
    for (entry, cue) in CUES[from..].iter().take_while(|(entry, _)| entry.as_bytes()[0] == first) {
        let matched = match entry.strip_suffix('=') {
            Some(whole) => word == whole,
            None => word.starts_with(entry),
        };
        if matched && best.is_none_or(|(len, _)| entry.len() > len) {
            best = Some((entry.len(), cue));
        }
    }
    best.map(|(_, cue)| cue)
}

/// Cues that need more than one word or a number: a clock time ("7pm",
/// "19h", "at 7", "um 18 Uhr"), a party size ("somos 3", "for 2", "wir sind
/// zu zweit"), and a few fixed phrases. `words` are normalised (digit runs
/// are `0`).
fn phrase_cue(words: &[&str], i: usize) -> Option<&'static str> {
    let word = words[i];
    let next = words.get(i + 1).copied().unwrap_or("");
    let after = words.get(i + 2).copied().unwrap_or("");
    if matches!(word, "0pm" | "0am" | "0h" | "0hs" | "0hrs" | "0u" | "0uhr" | "0ish") {
        return Some("cue_time");
    }
    if word == "0"
        && matches!(next, "pm" | "am" | "h" | "uhr" | "uur" | "heures" | "horas" | "hs" | "0pm" | "0am" | "0")
    {
        return Some("cue_time");
    }
    if matches!(word, "at" | "las" | "as" | "alle" | "om" | "um" | "vers" | "tipo" | "around") && next == "0" {
        return Some("cue_time");
    }
    const PEOPLE: [&str; 16] = [
        "people",
        "ppl",
        "of",
        "personas",
        "pessoas",
        "personnes",
        "personen",
        "persone",
        "spots",
        "places",
        "plazas",
        "vagas",
        "lugares",
        "posti",
        "plekken",
        "platze",
    ];
    if word == "0" && PEOPLE.contains(&next) {
        return Some("cue_party");
    }
    if matches!(word, "somos" | "siamo" | "sind" | "est" | "sommes" | "zijn") && (next == "0" || after == "0") {
        return Some("cue_party");
    }
    let pair = (word, next);
    Some(match pair {
        ("how", "much") | ("how", "muh") | ("hoeveel", _) => "cue_price",
        ("what", "time") | ("que", "horas") | ("hoe", "laat") | ("che", "ora") | ("wie", "spat") => "cue_sched",
        ("sign", "me") | ("count", "me") | ("im", "in") | ("were", "in") | ("take", "my") | ("be", "there") => {
            "cue_commit"
        }
        ("me", "apunto") | ("to", "indo") | ("je", "viens") | ("ich", "komme") | ("ik", "kom") => "cue_commit",
        ("not", "now") | ("not", "rn") | ("ahora", "no") | ("agora", "nao") | ("pas", "maintenant") => "cue_later",
        ("nicht", "jetzt") | ("non", "ora") | ("niet", "nu") | ("no", "rush") | ("sin", "prisa") => "cue_later",
        ("sem", "pressa") | ("keine", "eile") | ("nessuna", "fretta") | ("geen", "haast") | ("just", "looking") => {
            "cue_later"
        }
        ("de", "graca") => "cue_free",
        ("zu", "zweit") | ("in", "due") | ("z", "n") | ("we", "both") | ("nous", "deux") => "cue_party",
        _ => return None,
    })
}

/// Drops what a reply email quotes: `>` lines, the "On … wrote:" line in
/// any supported language, forwarded-header blocks ("-----Original
/// Message-----" and the From:/Subject: lines under it) and "Sent from my
/// phone" lines. The new text is what the lead means now; the quote is
/// usually the studio's own words.
pub fn strip_quoted(text: &str) -> String {
    const ATTRIBUTION: [&str; 9] =
        ["wrote", "escribio", "escribió", "escreveu", "a ecrit", "a écrit", "schrieb", "ha scritto", "schreef"];
    const SENT_FROM: [&str; 10] = [
        "sent from",
        "enviado desde",
        "enviado do",
        "enviado de",
        "envoye de",
        "envoyé de",
        "von meinem",
        "inviato da",
        "verzonden vanaf",
        "gesendet von",
    ];
    const HEADERS: [&str; 16] = [
        "from:",
        "sent:",
        "to:",
        "subject:",
        "de:",
        "para:",
        "asunto:",
        "assunto:",
        "objet:",
        "von:",
        "betreff:",
        "da:",
        "oggetto:",
        "van:",
        "onderwerp:",
        "enviado:",
    ];
    let mut out = String::with_capacity(text.len());
    let mut in_header_block = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        if trimmed.starts_with('>') {
            continue;
        }
        if lower.starts_with("-----") || lower.starts_with("________") {
            in_header_block = true;
            continue;
        }
        if in_header_block {
            if HEADERS.iter().any(|h| lower.starts_with(h)) {
                continue;
            }
            in_header_block = false;
        }
        // "On Mon, 3 Nov, Studio wrote:" alone on its line; a line that
        // only mentions writing ("my friend wrote: …") does not end there.
        let attribution = lower.ends_with(':') && ATTRIBUTION.iter().any(|w| lower.contains(w));
        if attribution || SENT_FROM.iter().any(|s| lower.starts_with(s)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// (word, cue) pairs for [`cue`], sorted by word; see there for the
/// meaning of a trailing `=`. Generated from a per-cue word list, so a word
/// has exactly one cue.
#[rustfmt::skip]
const CUES: &[(&str, &str)] = &[
    ("2day", "cue_now"), ("2nite", "cue_now"), ("abbonament", "cue_member"), ("abgebucht", "cue_dispute"),
    ("abholen", "cue_spam"), ("abonnement", "cue_member"), ("abonnes", "cue_spam"), ("absurd", "cue_angry"),
    ("addebitat", "cue_dispute"), ("address", "cue_place"), ("adesso", "cue_now"), ("adherent", "cue_member"),
    ("adhesion", "cue_member"), ("adres", "cue_place"), ("adresse", "cue_place"), ("afford", "cue_price"),
    ("afgeschreven", "cue_dispute"), ("afmeld", "cue_cancel"), ("agora", "cue_now"), ("ahora", "cue_now"),
    ("airdrop", "cue_spam"), ("ajd", "cue_now"), ("allebei", "cue_party"), ("alta=", "cue_commit"),
    ("amanha", "cue_day"), ("ambos", "cue_party"), ("amica", "cue_party"), ("amiche", "cue_party"),
    ("amie", "cue_party"), ("amies", "cue_party"), ("amiga", "cue_party"), ("amigas", "cue_party"),
    ("amigos", "cue_party"), ("angeschrien", "cue_staff"), ("anmeld", "cue_commit"), ("annoy", "cue_angry"),
    ("annul", "cue_cancel"), ("aparca", "cue_place"), ("apunt", "cue_commit"), ("arrivo", "cue_commit"),
    ("asap", "cue_now"), ("assinatura", "cue_member"), ("aujourdhui", "cue_now"), ("ausprobier", "cue_trial"),
    ("austrag", "cue_cancel"), ("avariad", "cue_fault"), ("averia", "cue_fault"), ("avuls", "cue_trial"),
    ("awful", "cue_angry"), ("baja=", "cue_cancel"), ("bancomat", "cue_pay"), ("barato", "cue_price"),
    ("bedankt", "cue_thanks"), ("beend", "cue_cancel"), ("beide", "cue_party"), ("benefic", "cue_business"),
    ("bereit", "cue_commit"), ("beschwer", "cue_angry"), ("bestatige", "cue_commit"), ("bestatigen", "cue_spam"),
    ("betal", "cue_pay"), ("bevestig", "cue_commit"), ("bezahl", "cue_pay"), ("bf=", "cue_party"),
    ("bicicletario", "cue_place"), ("billig", "cue_price"), ("bitcoin", "cue_spam"), ("boek", "cue_commit"),
    ("boleto", "cue_pay"), ("book", "cue_commit"), ("borde", "cue_staff"), ("both", "cue_party"),
    ("broer", "cue_party"), ("broke", "cue_fault"), ("browsing", "cue_later"), ("bruder", "cue_party"),
    ("btc", "cue_spam"), ("buch", "cue_commit"), ("cabread", "cue_angry"), ("calendario", "cue_sched"),
    ("cancel", "cue_cancel"), ("cancela", "cue_cancel"), ("cancelamento", "cue_cancel"), ("cancelar", "cue_cancel"),
    ("card=", "cue_pay"), ("cards=", "cue_pay"), ("cargador", "cue_place"), ("caro", "cue_price"),
    ("carta", "cue_pay"), ("cartao", "cue_pay"), ("carte", "cue_pay"), ("carteira", "cue_spam"), ("cash", "cue_pay"),
    ("casino", "cue_spam"), ("casse", "cue_fault"), ("catastroph", "cue_angry"), ("cb=", "cue_price"),
    ("cerca", "cue_place"), ("charged", "cue_dispute"), ("charger", "cue_place"), ("charity", "cue_business"),
    ("chave", "cue_place"), ("cheap", "cue_price"), ("cheers", "cue_thanks"), ("cher", "cue_price"),
    ("chiave", "cue_place"), ("claim", "cue_spam"), ("cle=", "cue_place"), ("cobrad", "cue_dispute"),
    ("cobraron", "cue_dispute"), ("cobrast", "cue_dispute"), ("colabora", "cue_business"), ("colega", "cue_party"),
    ("colegas", "cue_party"), ("collab", "cue_business"), ("collaborazion", "cue_business"),
    ("colleague", "cue_party"), ("collega", "cue_party"), ("colleghi", "cue_party"), ("collegue", "cue_party"),
    ("combien", "cue_price"), ("companer", "cue_party"), ("complain", "cue_angry"), ("conferm", "cue_commit"),
    ("confirm", "cue_commit"), ("congratul", "cue_spam"), ("contant", "cue_pay"), ("contract", "cue_member"),
    ("contrat", "cue_member"), ("contrato", "cue_member"), ("contratt", "cue_member"), ("convenc", "cue_commit"),
    ("copain", "cue_party"), ("copine", "cue_party"), ("cost", "cue_price"), ("costa", "cue_price"),
    ("couple", "cue_party"), ("coute", "cue_price"), ("coworker", "cue_party"), ("crash", "cue_fault"),
    ("crie", "cue_staff"), ("cripto", "cue_spam"), ("crypto", "cue_spam"), ("cuanto", "cue_price"),
    ("cuesta", "cue_price"), ("cuota", "cue_member"), ("curiosidad", "cue_later"), ("curiosidade", "cue_later"),
    ("curiosita", "cue_later"), ("curiosite", "cue_later"), ("curiosity", "cue_later"), ("curious", "cue_later"),
    ("curricul", "cue_business"), ("curriculum", "cue_business"), ("custa", "cue_price"), ("cv", "cue_business"),
    ("dank", "cue_thanks"), ("danke", "cue_thanks"), ("debite", "cue_dispute"), ("decepcion", "cue_angry"),
    ("decid", "cue_commit"), ("decouverte", "cue_trial"), ("decu", "cue_angry"), ("defekt", "cue_fault"),
    ("degueul", "cue_fault"), ("deje", "cue_place"), ("delus", "cue_angry"), ("demain", "cue_day"),
    ("desagradav", "cue_staff"), ("desagreable", "cue_staff"), ("desastre", "cue_angry"), ("desisto", "cue_cancel"),
    ("deux", "cue_party"), ("devolucion", "cue_dispute"), ("devolv", "cue_dispute"), ("dienstag", "cue_day"),
    ("dimanche", "cue_day"), ("dimentica", "cue_place"), ("dinsdag", "cue_day"), ("direct=", "cue_now"),
    ("dirty", "cue_fault"), ("disastros", "cue_angry"), ("disdett", "cue_cancel"), ("disdi", "cue_cancel"),
    ("dismissive", "cue_staff"), ("dispute", "cue_dispute"), ("dm=", "cue_spam"), ("dois", "cue_party"),
    ("domani", "cue_day"), ("domenica", "cue_day"), ("domingo", "cue_day"), ("donacion", "cue_business"),
    ("donat", "cue_business"), ("donderdag", "cue_day"), ("donnerstag", "cue_day"), ("door", "cue_place"),
    ("doppelt", "cue_dispute"), ("double", "cue_dispute"), ("dreckig", "cue_fault"), ("duas", "cue_party"),
    ("dubbel", "cue_dispute"), ("duplicad", "cue_dispute"), ("duur", "cue_price"), ("economic", "cue_price"),
    ("efectivo", "cue_pay"), ("eintrag", "cue_commit"), ("eis=", "cue_angry"), ("embauch", "cue_business"),
    ("emprego", "cue_business"), ("emprestimo", "cue_spam"), ("encerra", "cue_cancel"), ("encerrar", "cue_cancel"),
    ("endereco", "cue_place"), ("enfants", "cue_party"), ("enroll", "cue_commit"), ("enseguida", "cue_now"),
    ("entrambi", "cue_party"), ("entretien", "cue_business"), ("entrevista", "cue_business"),
    ("enttausch", "cue_angry"), ("erstatt", "cue_dispute"), ("esposa", "cue_party"), ("esqueci", "cue_place"),
    ("essai", "cue_trial"), ("essayer", "cue_trial"), ("estacion", "cue_place"), ("estagio", "cue_business"),
    ("estorno", "cue_dispute"), ("estropead", "cue_fault"), ("eventual", "cue_later"), ("exige", "cue_angry"),
    ("exijo", "cue_angry"), ("expect", "cue_angry"), ("expens", "cue_price"), ("experimental", "cue_trial"),
    ("experimentar", "cue_trial"), ("famiglia", "cue_party"), ("familia", "cue_party"), ("familie", "cue_party"),
    ("famille", "cue_party"), ("family", "cue_party"), ("fatal", "cue_angry"), ("fee=", "cue_price"),
    ("fees=", "cue_price"), ("felicidad", "cue_spam"), ("felicit", "cue_spam"), ("femme", "cue_party"),
    ("fidelidad", "cue_member"), ("fidelizac", "cue_member"), ("fietsenstalling", "cue_place"),
    ("figli", "cue_party"), ("filhos", "cue_party"), ("filth", "cue_fault"), ("finde", "cue_day"),
    ("follower", "cue_spam"), ("forse", "cue_later"), ("fratello", "cue_party"), ("frau", "cue_party"),
    ("frechheit", "cue_angry"), ("free", "cue_free"), ("freez", "cue_member"), ("freezing", "cue_fault"),
    ("freitag", "cue_day"), ("frere", "cue_party"), ("freundin", "cue_party"), ("fri=", "cue_day"),
    ("fria", "cue_fault"), ("friday", "cue_day"), ("friends", "cue_party"), ("frustrat", "cue_angry"),
    ("fuera", "cue_place"), ("future", "cue_later"), ("futuro", "cue_later"), ("gagne", "cue_spam"),
    ("ganado", "cue_spam"), ("ganhou", "cue_spam"), ("garer", "cue_place"), ("gefeliciteerd", "cue_spam"),
    ("geklaut", "cue_fault"), ("gelad", "cue_fault"), ("gestolen", "cue_fault"), ("gewonnen", "cue_spam"),
    ("gezin", "cue_party"), ("gf=", "cue_party"), ("giovedi", "cue_day"), ("gluckwunsch", "cue_spam"),
    ("goedkoop", "cue_price"), ("gotera", "cue_fault"), ("gracias", "cue_thanks"), ("gratis", "cue_free"),
    ("gratuit", "cue_free"), ("gratuito", "cue_free"), ("grazie", "cue_thanks"), ("grelha", "cue_sched"),
    ("grit", "cue_staff"), ("gross", "cue_fault"), ("grosso", "cue_staff"), ("guast", "cue_fault"),
    ("gunstig", "cue_price"), ("hart", "cue_angry"), ("hermana", "cue_party"), ("hermano", "cue_party"),
    ("heure", "cue_sched"), ("heute", "cue_now"), ("hijos", "cue_party"), ("hiring", "cue_business"),
    ("hj=", "cue_now"), ("hoje", "cue_now"), ("honteu", "cue_angry"), ("hora", "cue_sched"), ("horaire", "cue_sched"),
    ("horario", "cue_sched"), ("horrible", "cue_angry"), ("horriv", "cue_angry"), ("hoy", "cue_now"),
    ("huele", "cue_fault"), ("husband", "cue_party"), ("hw=", "cue_price"), ("ignor", "cue_staff"),
    ("ijskoud", "cue_fault"), ("immediat", "cue_now"), ("imund", "cue_fault"), ("inacceptab", "cue_angry"),
    ("inaccettab", "cue_angry"), ("inaceitav", "cue_angry"), ("inaceptable", "cue_angry"),
    ("inakzeptab", "cue_angry"), ("indevid", "cue_dispute"), ("indignad", "cue_angry"), ("indirizzo", "cue_place"),
    ("indo=", "cue_commit"), ("injustifi", "cue_dispute"), ("insatisf", "cue_angry"), ("inschrijv", "cue_commit"),
    ("inscri", "cue_commit"), ("insoddisf", "cue_angry"), ("interromp", "cue_cancel"), ("interview", "cue_business"),
    ("intervista", "cue_business"), ("intro", "cue_trial"), ("invest", "cue_spam"), ("irgendwann", "cue_later"),
    ("irma=", "cue_party"), ("iscriv", "cue_commit"), ("iscrizion", "cue_member"), ("jarrive", "cue_commit"),
    ("jetzt", "cue_now"), ("jeudi", "cue_day"), ("job", "cue_business"), ("join", "cue_commit"),
    ("journalist", "cue_business"), ("jueves", "cue_day"), ("kalt", "cue_fault"), ("kapot", "cue_fault"),
    ("kaputt", "cue_fault"), ("karte", "cue_pay"), ("katastroph", "cue_angry"), ("kids", "cue_party"),
    ("kinder", "cue_party"), ("kinderen", "cue_party"), ("klaar", "cue_commit"), ("klacht", "cue_angry"),
    ("kollegen", "cue_party"), ("komme", "cue_commit"), ("kooperation", "cue_business"), ("kost", "cue_price"),
    ("kosten", "cue_price"), ("kostenlos", "cue_free"), ("kostet", "cue_price"), ("kredit", "cue_spam"),
    ("krypto", "cue_spam"), ("kundig", "cue_cancel"), ("kursplan", "cue_sched"), ("kwijt", "cue_place"),
    ("later", "cue_later"), ("laufzeit", "cue_member"), ("lavoro", "cue_business"), ("leak", "cue_fault"),
    ("lebenslauf", "cue_business"), ("lening", "cue_spam"), ("lesrooster", "cue_sched"),
    ("lidmaatschap", "cue_member"), ("listo", "cue_commit"), ("loan", "cue_spam"), ("looptijd", "cue_member"),
    ("lost", "cue_place"), ("lundi", "cue_day"), ("lunedi", "cue_day"), ("lunes", "cue_day"), ("maandag", "cue_day"),
    ("madre", "cue_party"), ("mae=", "cue_party"), ("magari", "cue_later"), ("maintenant", "cue_now"),
    ("maleducad", "cue_staff"), ("manana", "cue_day"), ("mann", "cue_party"), ("mardi", "cue_day"),
    ("mari=", "cue_party"), ("marido", "cue_party"), ("marito", "cue_party"), ("martedi", "cue_day"),
    ("martes", "cue_day"), ("matricula", "cue_member"), ("maybe", "cue_later"), ("mecontent", "cue_angry"),
    ("member", "cue_member"), ("membership", "cue_member"), ("membresia", "cue_member"), ("mensalidade", "cue_price"),
    ("merci", "cue_thanks"), ("mercoledi", "cue_day"), ("mercredi", "cue_day"), ("mere=", "cue_party"),
    ("meteen", "cue_now"), ("miercoles", "cue_day"), ("misschien", "cue_later"), ("mitglied", "cue_member"),
    ("mittwoch", "cue_day"), ("moeder", "cue_party"), ("moglie", "cue_party"), ("molest", "cue_angry"),
    ("mom=", "cue_party"), ("mon=", "cue_day"), ("monday", "cue_day"), ("montag", "cue_day"), ("morgen", "cue_day"),
    ("mujer", "cue_party"), ("mutter", "cue_party"), ("namorad", "cue_party"), ("nearby", "cue_place"),
    ("neugier", "cue_later"), ("nieuwsgierig", "cue_later"), ("nojo", "cue_fault"), ("novia", "cue_party"),
    ("novio", "cue_party"), ("now", "cue_now"), ("nu=", "cue_now"), ("obrigad", "cue_thanks"),
    ("offnungszeit", "cue_sched"), ("oggi", "cue_now"), ("ok", "cue_thanks"), ("olvide", "cue_place"),
    ("omw", "cue_commit"), ("onacceptab", "cue_angry"), ("onbeschoft", "cue_staff"), ("onprofession", "cue_staff"),
    ("ontevreden", "cue_angry"), ("ooit", "cue_later"), ("openingstijd", "cue_sched"), ("opzeg", "cue_cancel"),
    ("orari", "cue_sched"), ("orario", "cue_sched"), ("oublie", "cue_place"), ("outside", "cue_place"),
    ("overcharg", "cue_dispute"), ("pagar", "cue_pay"), ("pagare", "cue_pay"), ("pago", "cue_pay"),
    ("pague", "cue_pay"), ("paie", "cue_pay"), ("paiement", "cue_pay"), ("panne", "cue_fault"),
    ("parabens", "cue_spam"), ("parceria", "cue_business"), ("parcheggi", "cue_place"), ("pareja", "cue_party"),
    ("park", "cue_place"), ("partenariat", "cue_business"), ("partner", "cue_party"), ("partnership", "cue_business"),
    ("patrocin", "cue_business"), ("pay", "cue_pay"), ("payer", "cue_pay"), ("perdi", "cue_place"),
    ("perhaps", "cue_later"), ("periodista", "cue_business"), ("permanencia", "cue_member"), ("pessim", "cue_angry"),
    ("pinnen", "cue_pay"), ("pix", "cue_pay"), ("plano", "cue_member"), ("portefeuille", "cue_spam"),
    ("practicas", "cue_business"), ("praktikum", "cue_business"), ("precio", "cue_price"), ("preco", "cue_price"),
    ("preis", "cue_price"), ("preleve", "cue_dispute"), ("prenot", "cue_commit"), ("presale", "cue_spam"),
    ("prestamo", "cue_spam"), ("prestito", "cue_spam"), ("pretendo", "cue_angry"), ("prezzo", "cue_price"),
    ("pric", "cue_price"), ("price", "cue_price"), ("prijs", "cue_price"), ("prix", "cue_price"),
    ("probabl", "cue_later"), ("probar", "cue_trial"), ("probeer", "cue_trial"), ("probestund", "cue_trial"),
    ("probetrain", "cue_trial"), ("proefles", "cue_trial"), ("profesionalidad", "cue_staff"),
    ("pronto", "cue_commit"), ("prova", "cue_trial"), ("provare", "cue_trial"), ("provavel", "cue_later"),
    ("prueba", "cue_trial"), ("puerta", "cue_place"), ("qto=", "cue_price"), ("quant", "cue_price"),
    ("quanto", "cue_price"), ("quarta", "cue_day"), ("quebrad", "cue_fault"), ("queja", "cue_angry"),
    ("quinta", "cue_day"), ("quiza", "cue_later"), ("quizas", "cue_later"), ("ragazza", "cue_party"),
    ("ragazzo", "cue_party"), ("ramp=", "cue_angry"), ("ready", "cue_commit"), ("reclamacao", "cue_angry"),
    ("reclamacion", "cue_angry"), ("reclamation", "cue_angry"), ("reclamo", "cue_angry"), ("recrut", "cue_business"),
    ("reembols", "cue_dispute"), ("refund", "cue_dispute"), ("rembours", "cue_dispute"), ("rescind", "cue_cancel"),
    ("reserv", "cue_commit"), ("resgat", "cue_spam"), ("resili", "cue_cancel"), ("respet", "cue_staff"),
    ("ridiculous", "cue_angry"), ("rimbors", "cue_dispute"), ("ritir", "cue_spam"), ("rn=", "cue_now"),
    ("robad", "cue_fault"), ("robo", "cue_fault"), ("roommate", "cue_party"), ("rooster", "cue_sched"),
    ("rota", "cue_fault"), ("roto", "cue_fault"), ("rott", "cue_fault"), ("roubad", "cue_fault"),
    ("rubat", "cue_fault"), ("ruckerstatt", "cue_dispute"), ("rude", "cue_staff"), ("sabado", "cue_day"),
    ("samedi", "cue_day"), ("samenwerking", "cue_business"), ("samstag", "cue_day"), ("sat=", "cue_day"),
    ("saturday", "cue_day"), ("schandalig", "cue_angry"), ("schande", "cue_angry"), ("schedule", "cue_sched"),
    ("schlussel", "cue_place"), ("schmutzig", "cue_fault"), ("schnupper", "cue_trial"), ("schreeuw", "cue_staff"),
    ("schwester", "cue_party"), ("scortese", "cue_staff"), ("segnami", "cue_commit"), ("seguidor", "cue_spam"),
    ("segunda", "cue_day"), ("senha", "cue_place"), ("seo=", "cue_spam"), ("sexta", "cue_day"),
    ("shout", "cue_staff"), ("sichern", "cue_commit"), ("sign", "cue_commit"), ("sleutel", "cue_place"),
    ("smell", "cue_fault"), ("socia", "cue_member"), ("socio", "cue_member"), ("soeur", "cue_party"),
    ("sofort", "cue_now"), ("sold", "cue_commit"), ("someday", "cue_later"), ("sonntag", "cue_day"),
    ("sorella", "cue_party"), ("spater", "cue_later"), ("sponsor", "cue_business"), ("sporc", "cue_fault"),
    ("stasera", "cue_now"), ("stink", "cue_fault"), ("stole", "cue_fault"), ("stopzet", "cue_cancel"),
    ("stuk", "cue_fault"), ("stundenplan", "cue_sched"), ("subito", "cue_now"), ("sucia", "cue_fault"),
    ("sucio", "cue_fault"), ("suja", "cue_fault"), ("sujo", "cue_fault"), ("sun=", "cue_day"), ("sunday", "cue_day"),
    ("talvez", "cue_later"), ("tarif", "cue_price"), ("tarifa", "cue_price"), ("tarjeta", "cue_pay"),
    ("taster", "cue_trial"), ("teleurgesteld", "cue_angry"), ("terca", "cue_day"), ("terrible", "cue_angry"),
    ("terugbetal", "cue_dispute"), ("teste", "cue_trial"), ("tester", "cue_trial"), ("teuer", "cue_price"),
    ("thank", "cue_thanks"), ("thanx", "cue_thanks"), ("thu=", "cue_day"), ("thurs=", "cue_day"),
    ("thursday", "cue_day"), ("thx", "cue_thanks"), ("timetable", "cue_sched"), ("tirocin", "cue_business"),
    ("tmr", "cue_day"), ("tmrw", "cue_day"), ("today", "cue_now"), ("together", "cue_party"), ("token", "cue_spam"),
    ("tomoro", "cue_day"), ("tomorow", "cue_day"), ("tomorrow", "cue_day"), ("tonight", "cue_now"),
    ("tonite", "cue_now"), ("trabajo", "cue_business"), ("trail", "cue_trial"), ("trial", "cue_trial"),
    ("try", "cue_trial"), ("tue=", "cue_day"), ("tues=", "cue_day"), ("tuesday", "cue_day"), ("tweeen", "cue_party"),
    ("twice", "cue_dispute"), ("uberweis", "cue_pay"), ("uhrzeit", "cue_sched"), ("uitprober", "cue_trial"),
    ("umsonst", "cue_free"), ("unaccept", "cue_angry"), ("unfreundlich", "cue_staff"), ("unhappy", "cue_angry"),
    ("unprofessional", "cue_staff"), ("unsubscribe", "cue_spam"), ("unzufried", "cue_angry"), ("urlat", "cue_staff"),
    ("vacante", "cue_business"), ("valeu", "cue_thanks"), ("valor", "cue_price"), ("vanavond", "cue_now"),
    ("vandaag", "cue_now"), ("vendredi", "cue_day"), ("venerdi", "cue_day"), ("vengo", "cue_commit"),
    ("vergessen", "cue_place"), ("vergeten", "cue_place"), ("vergogn", "cue_angry"), ("verguenza", "cue_angry"),
    ("verifica", "cue_spam"), ("verifiq", "cue_spam"), ("verifique", "cue_spam"), ("verify", "cue_spam"),
    ("verlange", "cue_angry"), ("vertrag", "cue_member"), ("vielleicht", "cue_later"), ("viernes", "cue_day"),
    ("vies", "cue_fault"), ("vincolo", "cue_member"), ("vinto", "cue_spam"), ("vole", "cue_fault"),
    ("voy=", "cue_commit"), ("vriend", "cue_party"), ("vriendin", "cue_party"), ("vrijdag", "cue_day"),
    ("vrouw", "cue_party"), ("wallet", "cue_spam"), ("waste", "cue_angry"), ("wed=", "cue_day"),
    ("wednesday", "cue_day"), ("weekend", "cue_day"), ("wieviel", "cue_price"), ("wife", "cue_party"),
    ("wifi", "cue_place"), ("winner", "cue_spam"), ("wlan", "cue_place"), ("woensdag", "cue_day"),
    ("worst", "cue_angry"), ("ya=", "cue_now"), ("zahl", "cue_pay"), ("zaterdag", "cue_day"), ("zondag", "cue_day"),
    ("zus=", "cue_party"), ("zweit", "cue_party"),
];

pub fn features_with(text: &str, spec: &FeatureSpec) -> Vec<(u32, f32)> {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut ids: Vec<(u32, f32)> = Vec::with_capacity(words.len() * 12 + 1);
    ids.push((feature_id(b"bias", &[]), 1.0));
    let mut grams = String::new();
    for (i, word) in words.iter().enumerate() {
        ids.push((feature_id(b"w", &[word.as_bytes()]), spec.word_weight));
        if spec.cue_weight > 0.0 {
            for cue in [cue(word), phrase_cue(&words, i)].into_iter().flatten() {
                ids.push((feature_id(b"q", &[cue.as_bytes()]), spec.cue_weight));
            }
        }
        if let Some(next) = words.get(i + 1) {
            ids.push((feature_id(b"b", &[word.as_bytes(), b" ", next.as_bytes()]), spec.word_weight));
        }
        if word.len() < 2 || word.starts_with("emo") || *word == "urltok" {
            continue;
        }
        let chars: Vec<char> = std::iter::once('<').chain(word.chars()).chain(std::iter::once('>')).collect();
        for n in spec.char_min..=spec.char_max {
            for window in chars.windows(n) {
                grams.clear();
                grams.extend(window);
                ids.push((feature_id(b"c", &[grams.as_bytes()]), 1.0));
            }
        }
    }
    // Binary presence: a repeated word in a long email is not more evidence.
    ids.sort_unstable_by_key(|(id, _)| *id);
    ids.dedup_by_key(|(id, _)| *id);
    let norm = ids.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    for (_, v) in ids.iter_mut() {
        *v /= norm;
    }
    ids
}

/// FNV-1a: stable across builds and Rust versions, unlike `DefaultHasher`,
/// which matters because the ids are baked into the model at build time.
fn feature_id(namespace: &[u8], parts: &[&[u8]]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in namespace.iter().chain(b":").chain(parts.iter().flat_map(|p| p.iter())) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ((hash >> 32) ^ hash) as u32 & ((1 << FEATURE_BITS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_accents_emoji_digits_and_urls() {
        assert_eq!(
            normalize("¿Cuánto cuesta? 🔥 a las 7pm bit.ly/x").split_whitespace().collect::<Vec<_>>(),
            ["?", "cuanto", "cuesta", "?", "emohype", "a", "las", "0pm", "urltok"]
        );
        assert_eq!(normalize("CAN'T wait!!").split_whitespace().collect::<Vec<_>>(), ["cant", "wait"]);
    }

    #[test]
    fn features_are_sorted_unique_and_unit_length() {
        let f = features("hola hola clase");
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn cues_are_sorted_and_unique_and_the_longest_entry_wins() {
        assert!(CUES.windows(2).all(|w| w[0].0 < w[1].0));
        let words: std::collections::HashSet<&str> = CUES.iter().map(|(w, _)| w.trim_end_matches('=')).collect();
        assert_eq!(words.len(), CUES.len(), "a word is listed twice");
        assert_eq!(cue("cobrasteis"), Some("cue_dispute"));
        assert_eq!(cue("quejarme"), Some("cue_angry"));
        // "kost" is a price word, but "kostenlos" (free) is longer.
        assert_eq!(cue("kostet"), Some("cue_price"));
        assert_eq!(cue("kostenlos"), Some("cue_free"));
        // Whole-word entries: "nu" is Dutch for "now", "numero" is not.
        assert_eq!(cue("nu"), Some("cue_now"));
        assert_eq!(cue("numero"), None);
        assert_eq!(cue("clase"), None);
        assert_eq!(cue(""), None);
    }

    #[test]
    fn times_party_sizes_and_phrases_are_cues() {
        let cues = |text: &str| {
            let n = normalize(text);
            let words: Vec<&str> = n.split_whitespace().collect();
            (0..words.len()).filter_map(|i| phrase_cue(&words, i)).collect::<Vec<_>>()
        };
        assert_eq!(cues("tomorrow at 7pm"), ["cue_time"]);
        assert_eq!(cues("amanhã às 19h"), ["cue_time"]);
        assert_eq!(cues("somos 3"), ["cue_party"]);
        assert_eq!(cues("how much is it, sign me up"), ["cue_price", "cue_commit"]);
        assert!(cues("hola que tal").is_empty());
    }

    #[test]
    fn quoted_replies_signatures_and_forward_headers_are_dropped() {
        let email = "Hi, how much is monthly?\n\nThanks,\nAna\nSent from my iPhone\n\n\
                     On Mon, 3 Nov, Studio wrote:\n> Please cancel anytime\n\
                     -----Original Message-----\nFrom: Studio\nSubject: Re: cancel\nLast line";
        let kept = strip_quoted(email);
        assert!(kept.contains("how much") && kept.contains("Last line"), "{kept}");
        for gone in ["iPhone", "wrote", "cancel", "Original", "Subject"] {
            assert!(!kept.contains(gone), "{gone} kept in {kept}");
        }
    }

    #[test]
    fn a_typo_shares_most_features_with_the_correct_word() {
        let a: std::collections::HashSet<u32> = features("membership").into_iter().map(|(id, _)| id).collect();
        let b: std::collections::HashSet<u32> = features("membrship").into_iter().map(|(id, _)| id).collect();
        assert!(a.intersection(&b).count() * 2 > a.len());
    }
}
