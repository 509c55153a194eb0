// @runra/runtime is a second name for the SDK; everything lives in @runra/sdk.
export * from "@runra/sdk";
