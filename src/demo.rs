//! `marketchat demo`: a temporary database with an operator, three sellers (with the
//! marketplace's IDs `MP-1001`…), some history, working keys (one of them an admin key for
//! the provisioning API) and portal logins, for the CLI to serve at once.

use crate::domain::ids::SellerId;
use crate::domain::keys::KeyOwner;
use crate::domain::users::OperatorRole;
use crate::domain::Principal;
use crate::service::accounts::NewUserKind;
use crate::service::{Accounts, ChatService, Clock, Provisioning};
use crate::store::{self, Store};
use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use std::sync::Arc;

/// Demo sellers (the marketplace's ID, the name) and their conversations (`true` = sent
/// by the operator).
const SELLERS: [(&str, &str, &[(bool, &str)]); 3] = [
    (
        "MP-1001",
        "Acme Outdoor Supplies",
        &[
            (false, "Hi! Can you check to see when my remittance will be paid?"),
            (true, "Hello from the marketplace team. Remittances go out every Friday; yours is scheduled for this week."),
            (false, "Great, thank you!"),
        ],
    ),
    ("MP-1002", "Blue Harbor Books", &[(true, "Welcome to the marketplace! Reply here any time you need help.")]),
    ("MP-1003", "Copper Kettle Kitchenware", &[]),
];

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
        let Seeded { operator_key, admin_key, sellers } = seed(store.clone()).await?;
        let logins = seed_logins(store.clone(), sellers[0].row).await?;
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
}

async fn seed(store: Arc<dyn Store>) -> Result<Seeded> {
    let clock = Clock::system();
    let service = ChatService::new(store.clone(), Default::default(), clock.clone());
    let provisioning = Provisioning::new(store, clock);
    let operator = provisioning.create_api_key(KeyOwner::Operator { admin: false }, Some("Demo operator")).await?;
    let admin = provisioning.create_api_key(KeyOwner::Operator { admin: true }, Some("Demo admin")).await?;
    let support = Principal::Operator { label: Some("Demo operator".to_owned()), role: None, admin_key: false, user_id: None };
    let mut sellers = Vec::new();
    for (external_id, name, history) in SELLERS {
        let seller = provisioning.create_seller(name, Some(external_id)).await?;
        let key = provisioning.create_api_key(KeyOwner::Seller(seller.id), Some("demo")).await?;
        let principal = Principal::Seller { seller_id: seller.id };
        for (from_operator, text) in history {
            let sender = if *from_operator { &support } else { &principal };
            service.send_message(sender, seller.id, text, None).await?;
        }
        sellers.push(DemoSeller { name, external_id, row: seller.id, id: seller.id.gid(), key: key.secret });
    }
    Ok(Seeded { operator_key: operator.secret, admin_key: admin.secret, sellers })
}

/// A Full Admin operator login and a login of the first seller, with fresh passwords.
async fn seed_logins(store: Arc<dyn Store>, seller_id: SellerId) -> Result<Vec<(&'static str, &'static str, String)>> {
    let accounts = Accounts::new(store, Clock::system());
    let password = || {
        use rand::Rng;
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(12).map(char::from).collect::<String>()
    };
    let (operator_password, seller_password) = (password(), password());
    accounts
        .create_user("operator@demo.test", Some("Demo Support"), &operator_password, NewUserKind::Operator(OperatorRole::FullAdmin))
        .await?;
    accounts.create_user("seller@demo.test", Some("Acme Staff"), &seller_password, NewUserKind::Seller(seller_id)).await?;
    Ok(vec![("operator", "operator@demo.test", operator_password), ("seller", "seller@demo.test", seller_password)])
}
