// The createSandboxTools sample against the real `openai` package's types:
// the array runra.createSandboxTools returns is accepted as `tools`, and a
// tool call from the response goes straight into tools.execute. Checked only
// when the openai package can be found (test/types.test.mjs).

import OpenAI from "openai";
import { Runra, type Sandbox } from "@runra/sdk";

export async function sample(runra: Runra, sandbox: Sandbox, openai: OpenAI): Promise<void> {
  const tools = runra.createSandboxTools(sandbox);
  const response = await openai.chat.completions.create({
    model: "gpt-4.1",
    messages: [{ role: "user", content: "Create a React component for a login form" }],
    tools,
    tool_choice: "auto",
  });
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
  for (const call of response.choices[0]?.message.tool_calls ?? []) {
    if (call.type !== "function") continue;
    messages.push(await tools.execute(call));
  }
}
