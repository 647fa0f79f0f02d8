//! Localized notification texts.
//!
//! These reach volunteers during an emergency, so they are short, concrete
//! and calm. The first alert ([`Text::Alert`]) deliberately carries no
//! address: the address is only sent once the volunteer has accepted.

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Swedish.
    Sv,
    /// Danish.
    Da,
    /// Norwegian bokmål.
    Nb,
    /// Finnish.
    Fi,
    /// German.
    De,
}

impl Lang {
    /// All supported languages.
    pub const ALL: [Lang; 6] = [Lang::En, Lang::Sv, Lang::Da, Lang::Nb, Lang::Fi, Lang::De];

    /// Parses a BCP-47-like tag by its primary language subtag: `en`, `en-GB`,
    /// `sv_SE`, `da`, `nb`/`no`/`nn` (all rendered as bokmål), `fi`, `de-AT`.
    /// Unknown languages give `None`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Some(match primary.as_str() {
            "en" => Lang::En,
            "sv" => Lang::Sv,
            "da" => Lang::Da,
            "nb" | "no" | "nn" => Lang::Nb,
            "fi" => Lang::Fi,
            "de" => Lang::De,
            _ => return None,
        })
    }

    /// The canonical tag (`en`, `sv`, `da`, `nb`, `fi`, `de`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv => "sv",
            Lang::Da => "da",
            Lang::Nb => "nb",
            Lang::Fi => "fi",
            Lang::De => "de",
        }
    }
}

/// What to tell the volunteer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// Suspected cardiac arrest nearby; can you help? Never contains an address.
    Alert {
        /// Straight-line distance in metres.
        distance_m: u32,
        /// Estimated travel time in minutes.
        minutes: u32,
    },
    /// Go straight to the patient and start CPR.
    TaskDirect {
        /// The patient's address.
        address: String,
    },
    /// Fetch the AED first, then go to the patient.
    TaskViaAed {
        /// Where the AED is (name / location description).
        aed_name: String,
        /// The patient's address.
        address: String,
    },
    /// Enough responders: thank you, you are not needed.
    StandDown,
    /// The volunteer moved too far away; the mission is cancelled for them.
    OutOfRange,
    /// The ambulance has taken over; thank you.
    MissionEnded,
    /// The alert was cancelled by the dispatch centre.
    MissionCancelled,
    /// The volunteer's CPR training is due for a refresher.
    CprRefresher {
        /// The reminder in the volunteer's language (dates included).
        text: String,
    },
    /// Free text from the dispatcher.
    DispatcherMessage {
        /// The dispatcher's text, passed through unchanged.
        text: String,
    },
    /// Thank you; please tell us how it went; support is available.
    Survey {
        /// Link to the survey.
        url: String,
    },
    /// To an AED's owner: please confirm the record, or replace pads / battery soon.
    OwnerReminder {
        /// The AED's name.
        aed_name: String,
        /// `confirm`, `pads`, `battery`, or `registered` (the owner's registration was received).
        what: String,
        /// Where the owner confirms the record (no account needed).
        url: String,
    },
    /// To a technician: an AED needs service (or, escalated, still does).
    AedService {
        /// The AED's name.
        aed_name: String,
        /// The rule's cause code, e.g. `status_fault`.
        cause: String,
        /// Nobody acknowledged the ticket in time.
        escalated: bool,
    },
    /// A login / phone verification code.
    VerificationCode {
        /// The code.
        code: String,
    },
    /// Please return the AED.
    ReturnAed {
        /// Where the AED belongs.
        aed_name: String,
    },
}

/// A rendered text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Notification title / e-mail subject.
    pub title: String,
    /// Notification body.
    pub body: String,
}

/// `420 m`, `1.2 km` / `1,2 km` (decimal comma outside English). Metres are
/// rounded to 10 m, kilometres to 100 m.
fn distance(lang: Lang, metres: u32) -> String {
    if metres < 1000 {
        let rounded = (metres.saturating_add(5) / 10 * 10).max(10);
        if rounded < 1000 {
            return format!("{rounded} m");
        }
    }
    let tenths = (u64::from(metres) + 50) / 100;
    let sep = if lang == Lang::En { '.' } else { ',' };
    format!("{}{sep}{} km", tenths / 10, tenths % 10)
}

/// Renders `text` in `lang`.
pub fn render(lang: Lang, text: &Text) -> Rendered {
    let (title, body) = match lang {
        Lang::En => en(text),
        Lang::Sv => sv(text),
        Lang::Da => da(text),
        Lang::Nb => nb(text),
        Lang::Fi => fi(text),
        Lang::De => de(text),
    };
    Rendered { title, body }
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn en(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Defibrillator registered"),
                format!(
                    "Thank you for registering the defibrillator {aed_name}. An operator will review it. You can check and change its details here: {url}"
                ),
            ),
            "pads" => (
                s("Pads expire soon"),
                format!(
                    "The electrode pads of the defibrillator {aed_name} expire soon. Please replace them, then confirm: {url}"
                ),
            ),
            "battery" => (
                s("Battery expires soon"),
                format!(
                    "The battery of the defibrillator {aed_name} expires soon. Please replace it, then confirm: {url}"
                ),
            ),
            _ => (
                s("Please confirm your defibrillator"),
                format!(
                    "Please check that the details of the defibrillator {aed_name} are still right and confirm them: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Escalated: "
                } else {
                    "AED needs service: "
                }
            ),
            format!(
                "AED {aed_name} needs service ({cause}). Open the firstlink console to acknowledge the ticket."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Suspected cardiac arrest nearby"),
            format!(
                "Someone {} from you (about {} min away) may be in cardiac arrest. Can you help? Open the app to answer.",
                distance(Lang::En, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Go straight to the patient"),
            format!("Go straight to {address} and start CPR. An ambulance is on its way."),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Fetch the defibrillator first"),
            format!(
                "Fetch the defibrillator (AED) at {aed_name}, then go to {address}. An ambulance is on its way."
            ),
        ),
        Text::StandDown => (
            s("You are not needed"),
            s("Enough responders are on their way. Thank you for being ready to help."),
        ),
        Text::OutOfRange => (
            s("Mission cancelled for you"),
            s("You have moved too far away, so you are no longer part of this mission. Thank you."),
        ),
        Text::MissionEnded => (
            s("The ambulance has taken over"),
            s("The ambulance crew has taken over. Thank you for your help."),
        ),
        Text::MissionCancelled => (
            s("Alert cancelled"),
            s(
                "The dispatch centre has cancelled the alert. You do not need to do anything. Thank you.",
            ),
        ),
        Text::DispatcherMessage { text } => (s("Message from the dispatch centre"), text.clone()),
        Text::CprRefresher { text } => (s("Time for a CPR refresher"), text.clone()),
        Text::Survey { url } => (
            s("Thank you for helping"),
            format!(
                "How did it go? Please tell us: {url} If you would like to talk to someone about what you experienced, support is available. Just contact us."
            ),
        ),
        Text::VerificationCode { code } => (
            s("firstlink verification code"),
            format!("Your firstlink verification code is {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Please return the defibrillator"),
            format!("Please return the defibrillator (AED) to {aed_name}. Thank you."),
        ),
    }
}

fn sv(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Hjärtstartaren är registrerad"),
                format!(
                    "Tack för att du registrerade hjärtstartaren {aed_name}. En operatör granskar den. Här kan du se och ändra uppgifterna: {url}"
                ),
            ),
            "pads" => (
                s("Elektroderna går snart ut"),
                format!(
                    "Elektroderna till hjärtstartaren {aed_name} går snart ut. Byt dem och bekräfta sedan: {url}"
                ),
            ),
            "battery" => (
                s("Batteriet går snart ut"),
                format!(
                    "Batteriet i hjärtstartaren {aed_name} går snart ut. Byt det och bekräfta sedan: {url}"
                ),
            ),
            _ => (
                s("Bekräfta din hjärtstartare"),
                format!(
                    "Kontrollera att uppgifterna om hjärtstartaren {aed_name} stämmer och bekräfta dem: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Eskalerat: "
                } else {
                    "Hjärtstartare behöver service: "
                }
            ),
            format!(
                "Hjärtstartaren {aed_name} behöver service ({cause}). Öppna firstlink-konsolen för att kvittera ärendet."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Misstänkt hjärtstopp i närheten"),
            format!(
                "En person {} från dig (cirka {} min bort) kan ha drabbats av hjärtstopp. Kan du hjälpa till? Öppna appen för att svara.",
                distance(Lang::Sv, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Gå direkt till patienten"),
            format!("Gå direkt till {address} och starta HLR. Ambulansen är på väg."),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Hämta hjärtstartaren först"),
            format!(
                "Hämta hjärtstartaren vid {aed_name} och gå sedan till {address}. Ambulansen är på väg."
            ),
        ),
        Text::StandDown => (
            s("Du behövs inte"),
            s("Tillräckligt många hjälpare är på väg. Tack för att du var redo att hjälpa till."),
        ),
        Text::OutOfRange => (
            s("Uppdraget avbrutet för dig"),
            s("Du har förflyttat dig för långt bort och ingår inte längre i uppdraget. Tack."),
        ),
        Text::MissionEnded => (
            s("Ambulansen har tagit över"),
            s("Ambulanspersonalen har tagit över. Tack för din insats."),
        ),
        Text::MissionCancelled => (
            s("Larmet är avbrutet"),
            s("Larmcentralen har avbrutit larmet. Du behöver inte göra något. Tack."),
        ),
        Text::DispatcherMessage { text } => (s("Meddelande från larmcentralen"), text.clone()),
        Text::CprRefresher { text } => (s("Dags att repetera HLR"), text.clone()),
        Text::Survey { url } => (
            s("Tack för din hjälp"),
            format!(
                "Hur gick det? Berätta gärna för oss: {url} Vill du prata med någon om det du har varit med om finns stöd. Hör bara av dig till oss."
            ),
        ),
        Text::VerificationCode { code } => (
            s("Verifieringskod för firstlink"),
            format!("Din verifieringskod för firstlink är {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Lämna tillbaka hjärtstartaren"),
            format!("Lämna tillbaka hjärtstartaren till {aed_name}. Tack."),
        ),
    }
}

fn da(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Hjertestarteren er registreret"),
                format!(
                    "Tak, fordi du registrerede hjertestarteren {aed_name}. En operatør gennemgår den. Her kan du se og ændre oplysningerne: {url}"
                ),
            ),
            "pads" => (
                s("Elektroderne udløber snart"),
                format!(
                    "Elektroderne til hjertestarteren {aed_name} udløber snart. Skift dem, og bekræft derefter: {url}"
                ),
            ),
            "battery" => (
                s("Batteriet udløber snart"),
                format!(
                    "Batteriet i hjertestarteren {aed_name} udløber snart. Skift det, og bekræft derefter: {url}"
                ),
            ),
            _ => (
                s("Bekræft din hjertestarter"),
                format!(
                    "Tjek at oplysningerne om hjertestarteren {aed_name} stadig er rigtige, og bekræft dem: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Eskaleret: "
                } else {
                    "Hjertestarter kræver service: "
                }
            ),
            format!(
                "Hjertestarteren {aed_name} kræver service ({cause}). Åbn firstlink-konsollen for at kvittere for sagen."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Mistanke om hjertestop i nærheden"),
            format!(
                "En person {} fra dig (ca. {} min. væk) kan have hjertestop. Kan du hjælpe? Åbn appen for at svare.",
                distance(Lang::Da, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Gå direkte til patienten"),
            format!("Gå direkte til {address}, og start hjertelungeredning. Ambulancen er på vej."),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Hent hjertestarteren først"),
            format!(
                "Hent hjertestarteren ved {aed_name}, og gå derefter til {address}. Ambulancen er på vej."
            ),
        ),
        Text::StandDown => (
            s("Du behøver ikke at komme"),
            s("Der er nok hjælpere på vej. Tak, fordi du var klar til at hjælpe."),
        ),
        Text::OutOfRange => (
            s("Opgaven er aflyst for dig"),
            s("Du er kommet for langt væk og er ikke længere med i opgaven. Tak."),
        ),
        Text::MissionEnded => (
            s("Ambulancen har overtaget"),
            s("Ambulancepersonalet har overtaget. Tak for din hjælp."),
        ),
        Text::MissionCancelled => (
            s("Alarmen er aflyst"),
            s("Vagtcentralen har aflyst alarmen. Du behøver ikke at gøre noget. Tak."),
        ),
        Text::DispatcherMessage { text } => (s("Besked fra vagtcentralen"), text.clone()),
        Text::CprRefresher { text } => (s("Tid til at genopfriske HLR"), text.clone()),
        Text::Survey { url } => (
            s("Tak for din hjælp"),
            format!(
                "Hvordan gik det? Fortæl os det gerne: {url} Har du brug for at tale med nogen om det, du har oplevet, kan du få støtte. Kontakt os bare."
            ),
        ),
        Text::VerificationCode { code } => (
            s("Bekræftelseskode til firstlink"),
            format!("Din bekræftelseskode til firstlink er {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Aflever hjertestarteren"),
            format!("Aflever venligst hjertestarteren ved {aed_name}. Tak."),
        ),
    }
}

fn nb(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Hjertestarteren er registrert"),
                format!(
                    "Takk for at du registrerte hjertestarteren {aed_name}. En operatør går gjennom den. Her kan du se og endre opplysningene: {url}"
                ),
            ),
            "pads" => (
                s("Elektrodene går snart ut"),
                format!(
                    "Elektrodene til hjertestarteren {aed_name} går snart ut. Bytt dem, og bekreft deretter: {url}"
                ),
            ),
            "battery" => (
                s("Batteriet går snart ut"),
                format!(
                    "Batteriet i hjertestarteren {aed_name} går snart ut. Bytt det, og bekreft deretter: {url}"
                ),
            ),
            _ => (
                s("Bekreft hjertestarteren din"),
                format!(
                    "Sjekk at opplysningene om hjertestarteren {aed_name} fortsatt stemmer, og bekreft dem: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Eskalert: "
                } else {
                    "Hjertestarter trenger service: "
                }
            ),
            format!(
                "Hjertestarteren {aed_name} trenger service ({cause}). Åpne firstlink-konsollen for å kvittere ut saken."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Mulig hjertestans i nærheten"),
            format!(
                "En person {} fra deg (ca. {} min unna) kan ha fått hjertestans. Kan du hjelpe? Åpne appen for å svare.",
                distance(Lang::Nb, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Gå rett til pasienten"),
            format!("Gå rett til {address} og start hjerte-lunge-redning. Ambulansen er på vei."),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Hent hjertestarteren først"),
            format!(
                "Hent hjertestarteren ved {aed_name}, og gå deretter til {address}. Ambulansen er på vei."
            ),
        ),
        Text::StandDown => (
            s("Du trengs ikke"),
            s("Nok hjelpere er på vei. Takk for at du var klar til å hjelpe."),
        ),
        Text::OutOfRange => (
            s("Oppdraget er avbrutt for deg"),
            s("Du har beveget deg for langt unna og er ikke lenger med på oppdraget. Takk."),
        ),
        Text::MissionEnded => (
            s("Ambulansen har tatt over"),
            s("Ambulansepersonellet har tatt over. Takk for innsatsen."),
        ),
        Text::MissionCancelled => (
            s("Varslingen er avbrutt"),
            s("AMK-sentralen har avbrutt varslingen. Du trenger ikke gjøre noe. Takk."),
        ),
        Text::DispatcherMessage { text } => (s("Melding fra AMK-sentralen"), text.clone()),
        Text::CprRefresher { text } => (s("Tid for å friske opp HLR"), text.clone()),
        Text::Survey { url } => (
            s("Takk for hjelpen"),
            format!(
                "Hvordan gikk det? Fortell oss gjerne: {url} Vil du snakke med noen om det du har opplevd, kan du få støtte. Ta gjerne kontakt med oss."
            ),
        ),
        Text::VerificationCode { code } => (
            s("Bekreftelseskode for firstlink"),
            format!("Din bekreftelseskode for firstlink er {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Lever tilbake hjertestarteren"),
            format!("Lever hjertestarteren tilbake til {aed_name}. Takk."),
        ),
    }
}

fn fi(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Sydäniskuri on rekisteröity"),
                format!(
                    "Kiitos, että rekisteröit sydäniskurin {aed_name}. Operaattori tarkistaa sen. Voit tarkistaa ja muuttaa tietoja täällä: {url}"
                ),
            ),
            "pads" => (
                s("Elektrodit vanhenevat pian"),
                format!(
                    "Sydäniskurin {aed_name} elektrodit vanhenevat pian. Vaihda ne ja vahvista sitten: {url}"
                ),
            ),
            "battery" => (
                s("Akku vanhenee pian"),
                format!(
                    "Sydäniskurin {aed_name} akku vanhenee pian. Vaihda se ja vahvista sitten: {url}"
                ),
            ),
            _ => (
                s("Vahvista sydäniskurisi tiedot"),
                format!(
                    "Tarkista, että sydäniskurin {aed_name} tiedot pitävät yhä paikkansa, ja vahvista ne: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Eskaloitu: "
                } else {
                    "Sydäniskuri tarvitsee huoltoa: "
                }
            ),
            format!(
                "Sydäniskuri {aed_name} tarvitsee huoltoa ({cause}). Kuittaa tiketti firstlink-konsolissa."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Epäilty sydänpysähdys lähelläsi"),
            format!(
                "Noin {} päässä sinusta (matkaa n. {} min) olevalla henkilöllä voi olla sydänpysähdys. Voitko auttaa? Vastaa sovelluksessa.",
                distance(Lang::Fi, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Mene suoraan potilaan luo"),
            format!(
                "Mene suoraan osoitteeseen {address} ja aloita elvytys. Ambulanssi on tulossa."
            ),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Hae ensin defibrillaattori"),
            format!(
                "Hae defibrillaattori paikasta {aed_name} ja mene sitten osoitteeseen {address}. Ambulanssi on tulossa."
            ),
        ),
        Text::StandDown => (
            s("Sinua ei tarvita"),
            s("Paikalle on tulossa riittävästi auttajia. Kiitos, että olit valmis auttamaan."),
        ),
        Text::OutOfRange => (
            s("Tehtävä peruttu osaltasi"),
            s("Olet siirtynyt liian kauas, joten et ole enää mukana tehtävässä. Kiitos."),
        ),
        Text::MissionEnded => (
            s("Ensihoito on paikalla"),
            s("Ensihoitajat ovat ottaneet tilanteen hoitaakseen. Kiitos avustasi."),
        ),
        Text::MissionCancelled => (
            s("Hälytys peruttu"),
            s("Hätäkeskus on perunut hälytyksen. Sinun ei tarvitse tehdä mitään. Kiitos."),
        ),
        Text::DispatcherMessage { text } => (s("Viesti hätäkeskukselta"), text.clone()),
        Text::CprRefresher { text } => (s("Aika kerrata elvytystaidot"), text.clone()),
        Text::Survey { url } => (
            s("Kiitos avustasi"),
            format!(
                "Miten tilanne meni? Kerro meille: {url} Jos haluat puhua jonkun kanssa kokemastasi, tukea on saatavilla. Ota meihin yhteyttä."
            ),
        ),
        Text::VerificationCode { code } => (
            s("firstlink-vahvistuskoodi"),
            format!("firstlink-vahvistuskoodisi on {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Palauta defibrillaattori"),
            format!("Palauta defibrillaattori paikkaan {aed_name}. Kiitos."),
        ),
    }
}

fn de(text: &Text) -> (String, String) {
    match text {
        Text::OwnerReminder {
            aed_name,
            what,
            url,
        } => match what.as_str() {
            "registered" => (
                s("Defibrillator registriert"),
                format!(
                    "Danke, dass Sie den Defibrillator {aed_name} registriert haben. Ein Operator prüft ihn. Hier können Sie die Angaben prüfen und ändern: {url}"
                ),
            ),
            "pads" => (
                s("Elektroden laufen bald ab"),
                format!(
                    "Die Elektroden des Defibrillators {aed_name} laufen bald ab. Bitte ersetzen Sie sie und bestätigen Sie dann: {url}"
                ),
            ),
            "battery" => (
                s("Akku läuft bald ab"),
                format!(
                    "Der Akku des Defibrillators {aed_name} läuft bald ab. Bitte ersetzen Sie ihn und bestätigen Sie dann: {url}"
                ),
            ),
            _ => (
                s("Bitte bestätigen Sie Ihren Defibrillator"),
                format!(
                    "Bitte prüfen Sie, ob die Angaben zum Defibrillator {aed_name} noch stimmen, und bestätigen Sie sie: {url}"
                ),
            ),
        },
        Text::AedService {
            aed_name,
            cause,
            escalated,
        } => (
            format!(
                "{}{aed_name}",
                if *escalated {
                    "Eskaliert: "
                } else {
                    "Defibrillator braucht Wartung: "
                }
            ),
            format!(
                "Der Defibrillator {aed_name} braucht Wartung ({cause}). Bestätigen Sie das Ticket in der firstlink-Konsole."
            ),
        ),
        Text::Alert {
            distance_m,
            minutes,
        } => (
            s("Verdacht auf Herzstillstand in der Nähe"),
            format!(
                "Eine Person {} von Ihnen entfernt (ca. {} Min.) hat möglicherweise einen Herzstillstand. Können Sie helfen? Öffnen Sie die App, um zu antworten.",
                distance(Lang::De, *distance_m),
                (*minutes).max(1)
            ),
        ),
        Text::TaskDirect { address } => (
            s("Gehen Sie direkt zum Patienten"),
            format!(
                "Gehen Sie direkt zu {address} und beginnen Sie mit der Wiederbelebung. Der Rettungsdienst ist unterwegs."
            ),
        ),
        Text::TaskViaAed { aed_name, address } => (
            s("Holen Sie zuerst den Defibrillator"),
            format!(
                "Holen Sie den Defibrillator (AED) bei {aed_name} und gehen Sie dann zu {address}. Der Rettungsdienst ist unterwegs."
            ),
        ),
        Text::StandDown => (
            s("Sie werden nicht benötigt"),
            s("Es sind genug Helfer unterwegs. Danke, dass Sie bereit waren zu helfen."),
        ),
        Text::OutOfRange => (
            s("Einsatz für Sie beendet"),
            s("Sie sind zu weit entfernt und nicht mehr Teil dieses Einsatzes. Danke."),
        ),
        Text::MissionEnded => (
            s("Der Rettungsdienst hat übernommen"),
            s("Der Rettungsdienst hat übernommen. Vielen Dank für Ihre Hilfe."),
        ),
        Text::MissionCancelled => (
            s("Alarm aufgehoben"),
            s("Die Leitstelle hat den Alarm aufgehoben. Sie müssen nichts weiter tun. Danke."),
        ),
        Text::DispatcherMessage { text } => (s("Nachricht der Leitstelle"), text.clone()),
        Text::CprRefresher { text } => (s("Zeit für eine Reanimations-Auffrischung"), text.clone()),
        Text::Survey { url } => (
            s("Danke für Ihre Hilfe"),
            format!(
                "Wie ist es gelaufen? Erzählen Sie es uns: {url} Wenn Sie über das Erlebte sprechen möchten, bieten wir Ihnen Unterstützung an. Melden Sie sich einfach bei uns."
            ),
        ),
        Text::VerificationCode { code } => (
            s("firstlink-Bestätigungscode"),
            format!("Ihr firstlink-Bestätigungscode lautet {code}"),
        ),
        Text::ReturnAed { aed_name } => (
            s("Bitte Defibrillator zurückbringen"),
            format!(
                "Bitte bringen Sie den Defibrillator (AED) an seinen Platz zurück: {aed_name}. Danke."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_format() {
        assert_eq!(distance(Lang::En, 0), "10 m");
        assert_eq!(distance(Lang::En, 424), "420 m");
        assert_eq!(distance(Lang::En, 996), "1.0 km");
        assert_eq!(distance(Lang::Sv, 1250), "1,3 km");
        assert_eq!(distance(Lang::De, 12_340), "12,3 km");
    }
}
