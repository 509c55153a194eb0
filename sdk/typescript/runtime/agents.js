// The CLI agent adapters under the import path the product pages use.
export * from "@runra/sdk/agents";
