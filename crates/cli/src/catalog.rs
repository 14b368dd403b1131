//! `ferry catalog`: the marketplace's products, editions and the Microsoft offer ids they stand
//! for, through a running Ferry's API (`--server`, `--token`).

use clap::{Args, Subcommand};
use serde_json::json;

use crate::remote::Api;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Every product with its editions and offer ids.
    List,
    /// Products.
    #[command(subcommand)]
    Product(ProductCommand),
    /// Editions.
    #[command(subcommand)]
    Edition(EditionCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Add a product and print its id.
    Add {
        #[arg(long)]
        name: String,
        /// Microsoft when not given.
        #[arg(long)]
        vendor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EditionCommand {
    /// Add an edition to a product and print its id.
    Add(EditionArgs),
    /// Replace the offer ids an edition stands for (none: it stands for no offer).
    Offers {
        edition: i64,
        offer_ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct EditionArgs {
    /// The product's id (`ferry catalog list`).
    #[arg(long)]
    product: i64,
    #[arg(long)]
    code: String,
    #[arg(long)]
    name: String,
    /// A Microsoft offer id it stands for (repeat for several).
    #[arg(long = "offer")]
    offers: Vec<String>,
    /// USER (the default), UNIT, DEVICE or FLAT.
    #[arg(long)]
    pricing_unit: Option<String>,
    #[arg(long)]
    included_units: Option<i64>,
}

pub async fn run(api: &Api, command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::List => {
            let products = api.get("/catalog").await?;
            for p in products.as_array().into_iter().flatten() {
                println!("{} {} ({})", p["id"], text(&p["name"]), text(&p["vendor"]));
                for e in p["editions"].as_array().into_iter().flatten() {
                    let offers: Vec<String> = e["offer_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(text)
                        .collect();
                    println!(
                        "  {:<6} {:<16} {:<40} {}",
                        e["id"],
                        text(&e["code"]),
                        text(&e["name"]),
                        offers.join(", ")
                    );
                }
            }
        }
        CatalogCommand::Product(ProductCommand::Add { name, vendor }) => {
            let body = json!({ "name": name, "vendor": vendor });
            let created = api
                .call(reqwest::Method::POST, "/catalog/products", Some(body))
                .await?;
            println!("{}", created["id"]);
        }
        CatalogCommand::Edition(EditionCommand::Add(args)) => {
            let body = json!({
                "code": args.code, "name": args.name, "offer_ids": args.offers,
                "pricing_unit": args.pricing_unit, "included_units": args.included_units,
            });
            let path = format!("/catalog/products/{}/editions", args.product);
            let created = api.call(reqwest::Method::POST, &path, Some(body)).await?;
            println!("{}", created["id"]);
        }
        CatalogCommand::Edition(EditionCommand::Offers { edition, offer_ids }) => {
            let path = format!("/catalog/editions/{edition}/offers");
            let body = json!({ "offer_ids": offer_ids });
            api.call(reqwest::Method::PUT, &path, Some(body)).await?;
        }
    }
    Ok(())
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
