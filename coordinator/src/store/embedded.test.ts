// The Store contract against the embedded store.
import { tempDir } from '@latentfarm/testkit';
import { EmbeddedStore } from './embedded.js';
import { describeStoreContract } from './store.contract.js';

describeStoreContract('embedded', async () => {
  const dir = await tempDir();
  const store = new EmbeddedStore(dir.path);
  return { store, close: async () => { await store.close(); await dir.remove(); } };
});
