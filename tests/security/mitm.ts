/**
 * A hostile network between one agent and the server: a TCP relay that reads every MQTT
 * packet both ways, keeps the server's publishes to the agent, can withhold some of them and
 * can write publishes of its own into the agent's stream, the way someone on the 4G path
 * without TLS could.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';

export interface Captured {
  topic: string;
  payload: Buffer;
}

export class MitmRelay {
  /** Publishes the server sent towards the agent (withheld ones included). */
  readonly downlinks: Captured[] = [];
  /** Publishes the agent sent towards the server. */
  readonly uplinks: Captured[] = [];
  /** Server publishes matching this are kept from the agent. */
  withhold: (topic: string) => boolean = () => false;
  private server: Server | null = null;
  private toAgent: Socket | null = null;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((agent) => {
      const upstream = connect(this.upstreamPort, '127.0.0.1');
      this.toAgent = agent;
      const fromServer = mqttPacket.parser({ protocolVersion: 4 });
      fromServer.on('packet', (p: Packet) => {
        if (p.cmd === 'publish') {
          const pub = p as IPublishPacket;
          const payload = Buffer.from(pub.payload);
          this.downlinks.push({ topic: pub.topic, payload });
          if (this.withhold(pub.topic)) return;
        }
        if (!agent.destroyed) agent.write(mqttPacket.generate(p));
      });
      const fromAgent = mqttPacket.parser({ protocolVersion: 4 });
      fromAgent.on('packet', (p: Packet) => {
        if (p.cmd === 'publish') this.uplinks.push({ topic: (p as IPublishPacket).topic, payload: Buffer.from((p as IPublishPacket).payload) });
      });
      upstream.on('data', (d) => fromServer.parse(d));
      agent.on('data', (d) => {
        fromAgent.parse(d);
        if (!upstream.destroyed) upstream.write(d);
      });
      const close = () => {
        agent.destroy();
        upstream.destroy();
      };
      agent.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Writes a QoS 0 publish into the agent's stream as if the server had sent it. */
  inject(topic: string, payload: Buffer | string): void {
    if (!this.toAgent || this.toAgent.destroyed) throw new Error('no agent connected through the relay');
    this.toAgent.write(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, dup: false, retain: false }));
  }

  /** The last captured downlink on a topic ending with `suffix`. */
  last(suffix: string): Captured {
    const found = this.downlinks.filter((d) => d.topic.endsWith(suffix)).at(-1);
    if (!found) throw new Error(`nothing captured on …${suffix}`);
    return found;
  }

  async stop(): Promise<void> {
    this.toAgent?.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
