export * from "@runra/sdk";
