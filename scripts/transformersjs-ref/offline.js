// offline.js: what every reference script here shares. Requiring it
// closes the network (any fetch throws, naming the URL); transformers()
// returns transformers.js with remote models and its caches off, so every
// file must be local; modelLoader(tjs) returns an async function that
// loads a folder's processor and fp32 CPU model once and reuses them.
'use strict';

globalThis.fetch = async (url) => {
  throw new Error(`network access attempted: ${url}`);
};

function transformers() {
  const tjs = require('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.useFSCache = false;
  tjs.env.useBrowserCache = false;
  return tjs;
}

function modelLoader(tjs) {
  const loaded = new Map();
  return async (dir) => {
    if (!loaded.has(dir)) {
      const processor = await tjs.AutoProcessor.from_pretrained(dir);
      const model = await tjs.AutoModelForImageTextToText.from_pretrained(dir, { dtype: 'fp32', device: 'cpu' });
      loaded.set(dir, { processor, model });
    }
    return loaded.get(dir);
  };
}

module.exports = { transformers, modelLoader };
