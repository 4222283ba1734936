import { connect, createInbox } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
const nc = await connect({ servers: '127.0.0.1:14222' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
await jsm.streams.add({ name: 'T_EV', subjects: ['t.ev.>'] });
await jsm.streams.add({ name: 'T_TASKS', subjects: ['t.task.>'], retention: RetentionPolicy.Workqueue });
for (let i = 0; i < 3; i++) await js.publish(`t.ev.j1.i.${i}`, 'x', { expect: { lastSubjectSequence: 0 } });
await js.publish(`t.ev.j2.i.0`, 'y');
try { await js.publish(`t.ev.j1.i.0`, 'x', { expect: { lastSubjectSequence: 0 } }); } catch (e) { console.log('dup err', (e as any).name, (e as any).code, (e as any).message); }
const a = await js.publish(`t.ev.j1.i.5`, 'x', { msgID: 'm1', expect: { lastSubjectSequence: 0 } });
const b = await js.publish(`t.ev.j1.i.5`, 'x', { msgID: 'm1', expect: { lastSubjectSequence: 0 } });
console.log('msgid retry', a, b);
const m = await jsm.streams.getMessage('T_EV', { last_by_subj: 't.ev.j1.>' });
console.log('last wildcard', m?.seq, m?.subject);
const si = await jsm.streams.info('T_EV', { subjects_filter: 't.ev.j1.i.*' } as any);
console.log('subjects', si.state.subjects, si.state.num_subjects);
for (let i = 0; i < 5; i++) await js.publish(`t.task.j1`, `task${i}`);
await jsm.consumers.add('T_TASKS', { durable_name: 'tj1', filter_subject: 't.task.j1', ack_policy: AckPolicy.Explicit, ack_wait: 3e9, max_deliver: -1, max_ack_pending: 100000 });
async function pull(stream: string, cons: string, batch: number) {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${cons}`, JSON.stringify({ batch, no_wait: true }), { reply: inbox });
  const out: any[] = [];
  const t = setTimeout(() => sub.unsubscribe(), 2000);
  for await (const msg of sub) {
    if (msg.headers?.code) { console.log('status', msg.headers.code, msg.headers.description); break; }
    out.push([msg.subject, msg.reply, msg.string()]);
    if (out.length >= batch) break;
  }
  clearTimeout(t); sub.unsubscribe();
  return out;
}
console.log(await pull('T_TASKS', 'tj1', 3));
console.log(await pull('T_TASKS', 'tj1', 3));
console.log(await pull('T_TASKS', 'tj1', 3));
console.log(await pull('T_TASKS', 'nope', 3));
const ci = await jsm.consumers.add('T_EV', { filter_subject: 't.ev.j1.i.*', ack_policy: AckPolicy.None, durable_name: 'tally' });
console.log('pending', ci.num_pending);
const eph = await jsm.consumers.add('T_EV', { filter_subject: 't.ev.j1.>', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 2, inactive_threshold: 30e9, mem_storage: true });
console.log('eph', eph.name, await pull('T_EV', eph.name, 10));
const kvm = new Kvm(js);
const kv = await kvm.create('T_JOBS', { history: 1 });
console.log('kv create', await kv.create('a', 'v1'));
try { await kv.create('a', 'v2'); } catch (e) { console.log('kv exists', (e as any).name, (e as any).code, (e as any).message); }
const os = await new Objm(js).create('T_IMG');
await os.putBlob({ name: 'j1/0', description: 'image/png' }, new Uint8Array([1,2,3]));
const got = await os.getBlob('j1/0'); const inf = await os.info('j1/0');
console.log('obj', got, inf?.description);
console.log('purge', await jsm.streams.purge('T_TASKS', { filter: 't.task.j1' }));
await nc.close();
