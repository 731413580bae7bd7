//! `marketchat demo`: a temporary database with an operator, eight sellers (with the
//! marketplace's IDs `MP-1001`…), two weeks of support history (so the operator portal's
//! inbox and reports have something to show: chats waiting, assigned, resolved, a note,
//! saved replies), working keys for the first three (one of them an admin key for the
//! provisioning API) and portal logins, for the CLI to serve at once.

use crate::domain::ids::SellerId;
use crate::domain::keys::KeyOwner;
use crate::domain::users::OperatorRole;
use crate::domain::support::ChatStatus;
use crate::domain::time::UnixMillis;
use crate::domain::Principal;
use crate::service::accounts::NewUserKind;
use crate::service::{Accounts, ChatService, Clock, Provisioning};
use crate::store::{self, Store};
use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Demo sellers (the marketplace's ID, the name). The first three get keys (printed); the
/// seller login belongs to the first. Their conversations are written by [`seed_history`].
const SELLERS: [(&str, &str); 8] = [
    ("MP-1001", "Acme Outdoor Supplies"),
    ("MP-1002", "Blue Harbor Books"),
    ("MP-1003", "Copper Kettle Kitchenware"),
    ("MP-1004", "Driftwood Decor"),
    ("MP-1005", "Evergreen Garden Co."),
    ("MP-1006", "Fjord Fleece & Wool"),
    ("MP-1007", "Granite Grill Gear"),
    ("MP-1008", "Harbor Light Candles"),
];

/// How many of [`SELLERS`] get a printed key.
const SELLERS_WITH_KEYS: usize = 3;

/// One demo seller's credentials.
struct DemoSeller {
    name: &'static str,
    external_id: &'static str,
    row: SellerId,
    id: String,
    key: String,
}

/// A seeded temporary database and the credentials to use it; the database is removed
/// when this is dropped.
pub struct Demo {
    store: Arc<dyn Store>,
    operator_key: String,
    admin_key: String,
    sellers: Vec<DemoSeller>,
    logins: Vec<(&'static str, &'static str, String)>,
    /// Holds the database file; dropped last.
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Creates and seeds a temporary database.
    pub async fn prepare() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("demo.db").display());
        let store = store::connect(&url, &Default::default()).await.context("could not open the database")?;
        let Seeded { operator_key, admin_key, sellers, rows } = seed(store.clone()).await?;
        let (logins, agents) = seed_logins(store.clone(), sellers[0].row).await?;
        seed_history(store.clone(), &rows, &agents).await.context("could not write the demo history")?;
        Ok(Self { store, operator_key, admin_key, sellers, logins, _dir: dir })
    }

    /// The demo database.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Prints the URLs, keys and logins of the demo served at `addr`.
    pub fn print_welcome(&self, addr: SocketAddr) {
        let (operator_key, admin_key, sellers) = (&self.operator_key, &self.admin_key, &self.sellers);
        println!();
        println!("marketchat demo (temporary database, removed on exit)");
        println!("  Seller API:    http://{addr}/graphql/seller");
        println!("  Operator API:  http://{addr}/graphql/operator");
        println!("  Either API:    http://{addr}/graphql (the key decides)");
        println!();
        println!("  operator key:  {operator_key}");
        println!("  admin key:     {admin_key}   (operator key that may also provision sellers and keys)");
        for seller in sellers {
            println!("  seller {:<27} id {}  externalId {}  key {}", format!("\"{}\"", seller.name), seller.id, seller.external_id, seller.key);
        }
        println!();
        println!("  Seller portal:    http://{addr}/seller/");
        println!("  Operator portal:  http://{addr}/operator/");
        for (what, email, password) in &self.logins {
            println!("  {what} login: {email} / {password}");
        }
        println!();
        println!("Paste into another shell to run the README's and docs/api.md's curl examples as they are:");
        println!(
            "export MARKETCHAT_URL=http://{addr} OPERATOR_KEY={operator_key} ADMIN_KEY={admin_key} SELLER_ID={} SELLER_KEY={}",
            sellers[0].id, sellers[0].key
        );
    }
}

/// What [`seed`] made.
struct Seeded {
    operator_key: String,
    admin_key: String,
    sellers: Vec<DemoSeller>,
    /// Every demo seller, in [`SELLERS`] order.
    rows: Vec<SellerId>,
}

async fn seed(store: Arc<dyn Store>) -> Result<Seeded> {
    let provisioning = Provisioning::new(store, Clock::system());
    let operator = provisioning.create_api_key(KeyOwner::Operator { admin: false }, Some("Demo operator")).await?;
    let admin = provisioning.create_api_key(KeyOwner::Operator { admin: true }, Some("Demo admin")).await?;
    let (mut sellers, mut rows) = (Vec::new(), Vec::new());
    for (i, (external_id, name)) in SELLERS.into_iter().enumerate() {
        let seller = provisioning.create_seller(name, Some(external_id)).await?;
        rows.push(seller.id);
        if i < SELLERS_WITH_KEYS {
            let key = provisioning.create_api_key(KeyOwner::Seller(seller.id), Some("demo")).await?;
            sellers.push(DemoSeller { name, external_id, row: seller.id, id: seller.id.gid(), key: key.secret });
        }
    }
    Ok(Seeded { operator_key: operator.secret, admin_key: admin.secret, sellers, rows })
}

/// A demo operator user who writes in the history: the principal the portal would give it.
struct Agent {
    id: i64,
    principal: Principal,
}

/// A Full Admin operator login, a login of the first seller (both with fresh passwords,
/// printed), and two more support agents (Maya and Tom) who only appear in the history.
/// Returns the logins and the agents, the Full Admin first.
async fn seed_logins(store: Arc<dyn Store>, seller_id: SellerId) -> Result<(Vec<(&'static str, &'static str, String)>, Vec<Agent>)> {
    let accounts = Accounts::new(store, Clock::system());
    let password = || {
        use rand::Rng;
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(12).map(char::from).collect::<String>()
    };
    let (operator_password, seller_password) = (password(), password());
    let mut agents = Vec::new();
    for (email, name, role, secret) in [
        ("operator@demo.test", "Demo Support", OperatorRole::FullAdmin, operator_password.clone()),
        ("maya@demo.test", "Maya Lopez", OperatorRole::CustomerSupport, password()),
        ("tom@demo.test", "Tom Becker", OperatorRole::CustomerSupport, password()),
    ] {
        let user = accounts.create_user(email, Some(name), &secret, NewUserKind::Operator(role)).await?;
        let principal = Principal::Operator { label: Some(user.name.clone()), role: Some(role), admin_key: false, user_id: Some(user.id) };
        agents.push(Agent { id: user.id, principal });
    }
    accounts.create_user("seller@demo.test", Some("Acme Staff"), &seller_password, NewUserKind::Seller(seller_id)).await?;
    Ok((vec![("operator", "operator@demo.test", operator_password), ("seller", "seller@demo.test", seller_password)], agents))
}

/// Questions sellers ask in the history, and the answers they get.
const QUESTIONS: [(&str, &str); 6] = [
    ("When will my remittance be paid?", "Remittances go out every Friday; yours is in this week's run."),
    ("How do I add a second warehouse address?", "Settings → Shipping → Add location. It shows up at checkout within the hour."),
    ("A buyer asks for a refund outside the 30 days. What do I do?", "You may refuse politely; if you accept, start it from the order page so fees are returned too."),
    ("My product photos look blurry after upload.", "Upload at least 1200 px on the long side; smaller images are scaled up."),
    ("Can I pause my shop during the holidays?", "Yes: Settings → Shop status → Holiday mode. Listings stay, orders pause."),
    ("The commission on my last invoice looks wrong.", "I checked: a returned order was counted twice. Finance will credit you this week."),
];

/// Writes the demo's conversations through the services with a clock moved by hand, so
/// that they spread over the past two weeks (and the reports have days, response and
/// resolution times to show), then leaves today's inbox in a realistic state.
async fn seed_history(store: Arc<dyn Store>, sellers: &[SellerId], agents: &[Agent]) -> Result<()> {
    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;
    let now = Clock::system().now().get();
    let at = Arc::new(AtomicI64::new(now));
    let clock = {
        let at = at.clone();
        Clock::from_fn(move || UnixMillis::new(at.load(Ordering::SeqCst)))
    };
    let chat = ChatService::new(store, Default::default(), clock);
    let support = chat.support();
    let set = |millis: i64| at.store(millis, Ordering::SeqCst);
    let seller = |i: usize| (Principal::Seller { seller_id: sellers[i] }, sellers[i]);
    // Two weeks of questions answered and resolved: a few a day, fewer at weekends, by
    // Maya and Tom in turn, answered within minutes to a few hours.
    let first_day = (now / DAY - 13) * DAY;
    let mut turn = 0usize;
    for day in 0..13 {
        let morning = first_day + day * DAY + 8 * 60 * MINUTE;
        let weekday = (first_day / DAY + day + 4) % 7; // 0 = Sunday (1970-01-01 was a Thursday)
        let questions = if weekday == 0 || weekday == 6 { 1 } else { 2 + (day as usize * 7) % 4 };
        for q in 0..questions {
            turn += 1;
            let (principal, seller_id) = seller(3 + turn % 5);
            let (question, answer) = QUESTIONS[turn % QUESTIONS.len()];
            let agent = &agents[1 + turn % 2];
            let asked = morning + q as i64 * 95 * MINUTE + (turn as i64 * 37 % 60) * MINUTE;
            set(asked);
            chat.send_message(&principal, seller_id, question, None).await?;
            set(asked + (4 + (turn as i64 * 53) % 170) * MINUTE);
            chat.mark_read(&agent.principal, seller_id, "Seller", None).await?;
            chat.send_message(&agent.principal, seller_id, answer, None).await?;
            if turn.is_multiple_of(3) {
                set(asked + (190 + (turn as i64 * 29) % 60) * MINUTE);
                chat.send_message(&principal, seller_id, "Thanks, that helps!", None).await?;
                set(asked + (200 + (turn as i64 * 29) % 60) * MINUTE);
                chat.mark_read(&agent.principal, seller_id, "Seller", None).await?;
                chat.send_message(&agent.principal, seller_id, "Glad to help — have a good day!", None).await?;
            }
            set(asked + (260 + (turn as i64 * 47) % 240) * MINUTE);
            support.set_status(&agent.principal, seller_id, ChatStatus::Resolved).await?;
        }
    }
    // Today (times before now): Acme waits on a follow-up, assigned to the Full Admin, with
    // a note; Blue Harbor and Driftwood wait unassigned; Fjord waits for Tom; Evergreen
    // was resolved this morning; Copper Kettle never wrote.
    let (demo, maya, tom) = (&agents[0], &agents[1], &agents[2]);
    let steps: [(i64, usize, Option<&Agent>, &str); 10] = [
        (-300, 4, None, "Is the summer promotion open to garden furniture?"),
        (-290, 4, Some(maya), "It is: tag the listings “Summer” by Friday and they join the campaign."),
        (-280, 4, None, "Done, thanks!"),
        (-276, 4, Some(maya), "Perfect, you are in. Good luck with the campaign!"),
        (-240, 1, Some(tom), "Welcome to the marketplace! Reply here any time you need help."),
        (-190, 0, None, "Hi! Can you check to see when my remittance will be paid?"),
        (-185, 0, Some(demo), "Hello from the marketplace team. Remittances go out every Friday; yours is scheduled for this week."),
        (-165, 0, None, "Great, thank you! And the one from last week — it never arrived."),
        (-150, 1, None, "Can I change the bank account my payouts go to?"),
        (-70, 5, None, "My order export has been stuck on “processing” since this morning."),
    ];
    for (minutes, index, agent, text) in steps {
        set(now + minutes * MINUTE);
        let (principal, seller_id) = seller(index);
        match agent {
            Some(agent) => {
                chat.mark_read(&agent.principal, seller_id, "Seller", None).await?;
                chat.send_message(&agent.principal, seller_id, text, None).await?;
            }
            None => {
                chat.send_message(&principal, seller_id, text, None).await?;
            }
        }
    }
    set(now - 270 * MINUTE);
    support.set_status(&maya.principal, sellers[4], ChatStatus::Resolved).await?;
    set(now - 160 * MINUTE);
    support.assign(sellers[0], Some(demo.id)).await?;
    let note = "Last week's payout bounced: the bank details on file were wrong. Finance re-sends it on Friday — tell the seller once confirmed.";
    support.create_note(&maya.principal, sellers[0], note).await?;
    set(now - 60 * MINUTE);
    support.assign(sellers[5], Some(tom.id)).await?;
    set(now - 25 * MINUTE);
    chat.send_message(&seller(3).0, sellers[3], "Hello, my listing photos do not upload — I get “file too large” at 2 MB.", None).await?;
    set(now - 20 * MINUTE);
    support.create_saved_reply("Payout schedule", "Remittances go out every Friday. If yours is missing after Friday 18:00, reply here and we will check it.").await?;
    support.create_saved_reply("Photo upload tips", "Photos may be up to 10 MB, JPEG or PNG, at least 1200 px on the long side.").await?;
    Ok(())
}
