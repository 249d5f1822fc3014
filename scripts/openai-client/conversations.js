// conversations.js posts conversations to a vlmrun serve URL with the
// official OpenAI Node client (openai 4.104.0), for
// server/openai_client_test.go.
//
// Usage: node conversations.js BASE_URL CASES.json
// CASES.json is a list of {name, messages, max_tokens}. Each case is sent
// plain and with stream: true, stream_options.include_usage; a case named
// "bad-*" must be refused. Prints one JSON object: {name: {content,
// prompt_tokens, completion_tokens, stream_content, stream_prompt_tokens} or
// {status, code, param, message} for a refusal}.
'use strict';
const fs = require('fs');
const OpenAI = require('openai');

async function main() {
  const [baseURL, casesPath] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  const out = {};
  for (const c of cases) {
    const req = { model: 'twin', messages: c.messages, max_tokens: c.max_tokens };
    if (c.name.startsWith('bad-')) {
      try {
        await client.chat.completions.create(req);
        out[c.name] = { status: 200 };
      } catch (e) {
        if (!(e instanceof OpenAI.APIError)) throw e;
        out[c.name] = { status: e.status, code: e.code, param: e.param, message: e.message };
      }
      continue;
    }
    const r = await client.chat.completions.create(req);
    const rec = {
      content: r.choices[0].message.content,
      prompt_tokens: r.usage.prompt_tokens,
      completion_tokens: r.usage.completion_tokens,
    };
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    rec.stream_content = '';
    for await (const chunk of stream) {
      for (const ch of chunk.choices) rec.stream_content += ch.delta.content ?? '';
      if (chunk.usage) rec.stream_prompt_tokens = chunk.usage.prompt_tokens;
    }
    out[c.name] = rec;
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
