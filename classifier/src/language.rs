//! Which supported language a lead wrote in.
//!
//! `whatlang` (trigram profiles compiled into the binary, restricted to our
//! seven languages) votes, and a small table of function words and accents
//! per language votes beside it. On its own, whatlang reads short Spanish as
//! Portuguese and short English as French or Dutch often enough to matter
//! (about 9 in 100 of our messages of 20 characters or more); the function
//! words ("the", "vous", "você", "nicht", "jullie") settle most of those.
//! `lingua` was measured too: more accurate alone, but its models add about
//! 35 MB to the binary and to resident memory, and it takes ~0.4 ms a
//! message, against a 64 MB process budget and a 1 ms classification.
//!
//! **Short messages are not guessed.** Below [`MIN_LETTERS`] letters ("ok",
//! "price?", "👍 gracias") [`detect`] returns `None` and the caller uses the
//! studio's default language: a wrong guess would answer a lead in a
//! language the studio does not speak, for no gain.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use whatlang::{Detector, Lang};

use crate::text::normalize;

/// Fewer letters than this and the message is too short to tell.
pub const MIN_LETTERS: usize = 12;

/// Weight of whatlang's vote against one function word, looked at on the
/// training rows only (`model_selection::language_weights`): 0.5 to 1.0
/// score within a point of each other there, and 1.0 gives more say to the
/// library, whose profiles were built from far more text than our rows.
pub const WHATLANG_WEIGHT: f32 = 1.0;

/// The languages the offline classifier, the replies and the missed-call
/// text-back support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Es,
    Pt,
    Fr,
    De,
    It,
    Nl,
}

impl Language {
    pub const ALL: [Language; 7] =
        [Language::En, Language::Es, Language::Pt, Language::Fr, Language::De, Language::It, Language::Nl];

    /// ISO 639-1, lowercase.
    pub const fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Pt => "pt",
            Language::Fr => "fr",
            Language::De => "de",
            Language::It => "it",
            Language::Nl => "nl",
        }
    }

    /// Accepts `es`, `ES`, `es-MX`, `pt_BR`; `None` for unsupported codes.
    pub fn from_code(code: &str) -> Option<Self> {
        let base = code.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == base)
    }

    const fn whatlang(self) -> Lang {
        match self {
            Language::En => Lang::Eng,
            Language::Es => Lang::Spa,
            Language::Pt => Lang::Por,
            Language::Fr => Lang::Fra,
            Language::De => Lang::Deu,
            Language::It => Lang::Ita,
            Language::Nl => Lang::Nld,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static DETECTOR: LazyLock<Detector> =
    LazyLock::new(|| Detector::with_allowlist(Language::ALL.iter().map(|l| l.whatlang()).collect()));

/// The message's language, or `None` when it is too short to tell.
pub fn detect(text: &str) -> Option<Language> {
    detect_with(text, WHATLANG_WEIGHT)
}

pub(crate) fn detect_with(text: &str, whatlang_weight: f32) -> Option<Language> {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters < MIN_LETTERS {
        return None;
    }
    let mut scores = [0f32; 7];
    let normalized = normalize(text);
    for word in normalized.split_whitespace() {
        if let Some(langs) = function_word(word) {
            let share = 1.0 / langs.len() as f32;
            for l in langs {
                scores[l.index()] += share;
            }
        }
    }
    for c in text.chars().flat_map(char::to_lowercase) {
        for (l, weight) in accent(c) {
            scores[l.index()] += weight;
        }
    }
    let voted = DETECTOR.detect(text).and_then(|info| Language::ALL.into_iter().find(|l| l.whatlang() == info.lang()));
    if let Some(l) = voted {
        scores[l.index()] += whatlang_weight;
    }
    let best = Language::ALL.into_iter().max_by(|a, b| scores[a.index()].total_cmp(&scores[b.index()]))?;
    // A tie (no evidence at all, or an even split) goes to whatlang.
    let tied = Language::ALL.iter().filter(|l| scores[l.index()] == scores[best.index()]).count() > 1;
    Some(if tied { voted.unwrap_or(best) } else { best })
}

/// Letters that only some of our languages use.
fn accent(c: char) -> &'static [(Language, f32)] {
    use Language::*;
    match c {
        'ñ' | '¿' | '¡' => &[(Es, 2.0)],
        'ã' | 'õ' => &[(Pt, 2.0)],
        'ç' => &[(Pt, 0.7), (Fr, 0.7)],
        'ß' => &[(De, 2.0)],
        'ä' | 'ö' | 'ü' => &[(De, 1.0)],
        'è' => &[(Fr, 0.5), (It, 0.5)],
        'ù' => &[(Fr, 0.5), (It, 0.5)],
        'ì' | 'ò' => &[(It, 1.0)],
        'ê' | 'â' => &[(Fr, 0.5), (Pt, 0.5)],
        'î' | 'û' | 'œ' | 'ë' => &[(Fr, 1.0)],
        _ => &[],
    }
}

/// The languages a (normalised) function word belongs to.
fn function_word(word: &str) -> Option<&'static [Language]> {
    FUNCTION_WORDS.binary_search_by(|(w, _)| w.cmp(&word)).ok().map(|i| FUNCTION_WORDS[i].1)
}

/// Common short words of each language, accents folded. A word several
/// languages share counts for each of them in equal parts.
static FUNCTION_WORDS: LazyLock<Vec<(&'static str, &'static [Language])>> = LazyLock::new(|| {
    let mut map: std::collections::BTreeMap<&'static str, Vec<Language>> = std::collections::BTreeMap::new();
    for (language, words) in WORDS {
        for word in words.split_whitespace() {
            let langs = map.entry(word).or_default();
            if !langs.contains(language) {
                langs.push(*language);
            }
        }
    }
    map.into_iter().map(|(w, langs)| (w, &*Vec::leak(langs))).collect()
});

#[rustfmt::skip]
const WORDS: &[(Language, &str)] = &[
    (Language::En, "the and is are you your im my me can what how much do does for with to this that it its have has \
        want would like please pls thanks thank there when where get just hi hey yo u ur wanna gonna of on in at be will \
        was were if so any our we us they not dont cant ill id ive lol tho btw thx ty morning evening tonight tomorrow \
        today could should about from an or no hello cheers regards best kind class \
        need stop end sign become classes includes include membership memberships lockers towels renew auto direct debit cancel monday tuesday wednesday thursday friday saturday sunday week month year price prices much hw gym new"),
    (Language::Es, "el la los las y es esta estoy hay que cuanto para por con una un mi mis quiero puedo gracias hola \
        manana hoy tengo teneis vosotros del al muy pero tambien donde como cuando porque se me te le lo nos os su sus yo \
        tu usted ustedes ya si no clase precio cuesta quisiera gustaria buenas buenos dias tardes saludos porfa vale \
        ahora estas somos vamos voy de en hacer queria mucho \
        podeis haceis cobreis cobrasteis aparcar factura tarjeta llame llamar acceso doy sedes pasado lunes martes miercoles jueves viernes sabado domingo semana quiza quizas tal vale vez entonces aqui alli algo nada mucha muchas muchos ningun ninguna"),
    (Language::Pt, "o os as e nao voce vc vcs voces obrigado obrigada ola oi quero posso aula aulas amanha hoje tem \
        tenho para pra com uma um meu minha do da dos das no na nos ao mais muito tambem onde estou qual quanto gostaria \
        bom dia boa noite ta to vou preciso pode podem valeu academia ja sao eu ele ela isso essa esse de em que se me \
        como fazer \
        seu sua seus suas quer foi mandei errada errado opa receba avulsa conversar ne pfv vlw obg blz kkk kkkk rs segunda terca quarta quinta sexta sabado domingo semana entao aqui algum alguma nada voces"),
    (Language::Fr, "le les et est je j vous tu nous un une des du au aux pour avec pas ne mon ma mes merci bonjour \
        salut coucou demain aujourdhui ce cette c qu quel quelle combien il elle suis ai ou tres aussi oui cours seance \
        salle votre vos notre peux peut veux voudrais souhaite cordialement bonsoir svp ca comment depuis sur dans plus \
        de en que la me se \
        mauvais desole desolee oups lundi mardi mercredi jeudi vendredi samedi dimanche semaine mois moi toi lui leur leurs ici rien quelque chose cest jai jarrive dois fait"),
    (Language::De, "der die das und ist ich du sie wir ihr ein eine einen nicht mit fur zu auf den dem mein meine \
        kann gibt bitte danke hallo morgen heute noch wie was wann wo habt bin schon auch mal hab habe euch eure euer \
        kurs uhr gerne viele grusse liebe sehr ja nein oder aber wenn dass ist \
        mir mich dich uns nur aus bei vom zum zur kostet einheit hier gehts fruh neue antworte nehmt stoppen lastschrift kein keine ob weil jemand etwas geht gibts bis nach montag dienstag mittwoch donnerstag freitag samstag sonntag woche monat"),
    (Language::It, "il lo gli la e di del della per con un una non mi ti ci sono ho hai voglio posso grazie ciao \
        buongiorno domani oggi che quanto quando dove anche molto lezione palestra avete vorrei sei siamo mio mia \
        questo questa come cosa alle ore buonasera salve cordiali saluti in \
        faccio fare settimana giorno troppo scrivimi scrivi probabilmente vendete seduta disdire ma gli sto sta stai perche tutto tutti bene qui qua allora ecco lunedi martedi mercoledi giovedi venerdi sabato domenica mese"),
    (Language::Nl, "de het een en is ik je jij jullie wij we niet met voor van op te mijn kan kunnen wil graag \
        bedankt dank hoi hallo morgen vandaag nog wat hoe wanneer waar zijn ben heb ook maar er dit dat om uur les \
        lessen groet groetjes goedemorgen goedemiddag vriendelijke hebben zou bij naar in \
        kost sessie eerste verkeerd nummer automatische incasso samen aub alleen even mag moet moeten geen weer alweer gaan gaat komen kom hun ze zo nou echt wel toch al heel veel goed leuk fijn maandag dinsdag woensdag donderdag vrijdag zaterdag zondag maand"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_supported_language() {
        for (text, want) in [
            ("Hi, I would like to book a trial class this week", Language::En),
            ("Hola, me gustaría reservar una clase de prueba", Language::Es),
            ("Olá, vocês têm aula experimental amanhã?", Language::Pt),
            ("Bonjour, vous avez un cours d'essai demain ?", Language::Fr),
            ("Hallo, kann ich morgen ein Probetraining machen?", Language::De),
            ("Ciao, posso fare una lezione di prova domani?", Language::It),
            ("Hoi, kan ik morgen een proefles doen bij jullie?", Language::Nl),
        ] {
            assert_eq!(detect(text), Some(want), "{text}");
        }
    }

    #[test]
    fn short_messages_are_not_guessed() {
        for text in ["ok", "price?", "👍 gracias", "merci!!", "hoi"] {
            assert_eq!(detect(text), None, "{text}");
        }
    }

    #[test]
    fn codes_parse_with_regions_and_case() {
        assert_eq!(Language::from_code("pt_BR"), Some(Language::Pt));
        assert_eq!(Language::from_code(" ES-mx"), Some(Language::Es));
        assert_eq!(Language::from_code("ja"), None);
        assert!(Language::ALL.iter().all(|l| Language::from_code(l.code()) == Some(*l)));
    }

    #[test]
    fn function_words_are_looked_up_in_every_language_that_has_them() {
        assert_eq!(function_word("the"), Some(&[Language::En][..]));
        let de = function_word("de").unwrap();
        assert!(de.contains(&Language::Es) && de.contains(&Language::Nl) && !de.contains(&Language::En));
        assert_eq!(function_word("zzz"), None);
    }
}
