export * from "@runra/sdk/agents";
