import dgram from 'node:dgram';

/**
 * A minimal DNS-over-UDP client (what `dig +tries=1` does, without a process start per query), so
 * a resolver can be polled every millisecond. Answers only the response code and answer count.
 */
export class DnsClient {
  private readonly socket = dgram.createSocket('udp4');
  private readonly pending = new Map<number, (r: { rcode: number; answers: number }) => void>();
  private nextId = Math.floor(Math.random() * 65_536);

  constructor(private readonly port: number, private readonly host = '127.0.0.1') {
    this.socket.on('message', (msg) => {
      if (msg.length < 12) return;
      const resolve = this.pending.get(msg.readUInt16BE(0));
      if (!resolve) return;
      this.pending.delete(msg.readUInt16BE(0));
      resolve({ rcode: msg[3]! & 0x0f, answers: msg.readUInt16BE(6) });
    });
    this.socket.unref();
  }

  /** rcode 0 = NOERROR, 3 = NXDOMAIN; rejects after `timeoutMs`. */
  query(name: string, timeoutMs = 1000): Promise<{ rcode: number; answers: number }> {
    const id = (this.nextId = (this.nextId + 1) & 0xffff);
    const labels = name.replace(/\.$/, '').split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(0x0100, 2); // RD
    header.writeUInt16BE(1, 4); // QDCOUNT
    const packet = Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]); // root, QTYPE A, QCLASS IN
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DNS query ${name} timed out`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.socket.send(packet, this.port, this.host);
    });
  }

  close(): void {
    this.socket.close();
  }
}

export const rcodes = { NOERROR: 0, NXDOMAIN: 3 } as const;
