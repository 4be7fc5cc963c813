import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import {
  choosePorts,
  listeningPortsArgv,
  parseListeningPorts,
  registeredPorts,
} from '../../src/server/ports.js';
import {
  claimNames,
  emptyRegistry,
  environmentUnits,
  freeEnvironment,
  parseRegistry,
  type Registry,
  registeredEnvironment,
  serializeRegistry,
  setRegistryOrigin,
} from '../../src/server/registry.js';

function claim(
  registry: Registry,
  app: string,
  env: string,
  ports: [number, number],
  host: string,
) {
  return claimNames(registry, app, env, {
    ports,
    hostNames: [host],
    units: environmentUnits(envPaths(app, env)),
  });
}

describe('choosePorts', () => {
  it.each([
    ['an empty server', [], [], [3000, 3001]],
    ['something on 3000', [], [3000], [3001, 3002]],
    ['something on 3001', [], [3001], [3002, 3003]],
    ['3000-3001 registered', [[3000, 3001]], [], [3002, 3003]],
    [
      'a gap of one between registrations',
      [
        [3000, 3001],
        [3003, 3004],
      ],
      [],
      [3005, 3006],
    ],
    [
      'a gap of two',
      [
        [3000, 3001],
        [3004, 3005],
      ],
      [3006],
      [3002, 3003],
    ],
    ['registered and listening mixed', [[3000, 3001]], [3002, 3004], [3005, 3006]],
  ] as Array<[string, Array<[number, number]>, number[], [number, number]]>)(
    '%s',
    (_name, registered, listening, expected) => {
      let registry = emptyRegistry();
      registered.forEach((ports, i) => {
        registry = claim(registry, `app${i}`, 'production', ports, `app${i}.com`);
      });
      expect(choosePorts(registry, new Set(listening))).toEqual(expected);
    },
  );

  it('fails when nothing is free', () => {
    expect(() => choosePorts(emptyRegistry(), new Set([65534]), 65534)).toThrow(/no two free/);
  });
});

describe('claimNames', () => {
  const shop = claim(emptyRegistry(), 'shop', 'api-x', [3000, 3001], 'api-x.preview.shop.com');

  it('records the environment', () => {
    expect(registeredEnvironment(shop, 'shop', 'api-x')).toEqual({
      ports: [3000, 3001],
      hostNames: ['api-x.preview.shop.com'],
      units: [
        'toss-shop-api-x@.service',
        'toss-run-shop-api-x.service',
        '/etc/caddy/toss/shop-api-x.caddy',
        'toss-wake-shop-api-x@.socket',
        'toss-wake-shop-api-x@.service',
      ],
    });
    expect(registeredPorts(shop)).toEqual(new Set([3000, 3001]));
  });

  it('refuses app shop-api env x after app shop env api-x: same unit and site names', () => {
    expect(() => claim(shop, 'shop-api', 'x', [3002, 3003], 'x.preview.shop-api.com')).toThrow(
      'cannot deploy shop-api/x on this server: toss-shop-api-x@.service belongs to app shop (environment api-x); toss-run-shop-api-x.service belongs to app shop (environment api-x); /etc/caddy/toss/shop-api-x.caddy belongs to app shop (environment api-x); toss-wake-shop-api-x@.socket belongs to app shop (environment api-x); toss-wake-shop-api-x@.service belongs to app shop (environment api-x)',
    );
  });

  it('refuses a host name or port another app owns, naming the owner', () => {
    expect(() => claim(shop, 'blog', 'production', [3002, 3003], 'api-x.preview.shop.com')).toThrow(
      /host name api-x.preview.shop.com belongs to app shop \(environment api-x\)/,
    );
    expect(() => claim(shop, 'blog', 'production', [3001, 3002], 'blog.com')).toThrow(
      /port 3001 belongs to app shop \(environment api-x\)/,
    );
  });

  it('lets an environment claim again what it owns, and keeps apps apart', () => {
    const again = claim(shop, 'shop', 'api-x', [3000, 3001], 'api-x.preview.shop.com');
    expect(again).toEqual(shop);
    const both = claim(shop, 'shop-api', 'y', [3002, 3003], 'y.preview.shop-api.com');
    expect(Object.keys(both.apps)).toEqual(['shop', 'shop-api']);
  });

  it('frees an environment, and an app left with nothing', () => {
    const both = claim(shop, 'shop', 'production', [3002, 3003], 'shop.com');
    const one = freeEnvironment(both, 'shop', 'api-x');
    expect(Object.keys(one.apps.shop?.environments ?? {})).toEqual(['production']);
    expect(choosePorts(one, new Set())).toEqual([3000, 3001]);
    expect(freeEnvironment(one, 'shop', 'production')).toEqual(emptyRegistry());
    expect(freeEnvironment(one, 'nope', 'x')).toBe(one);
    const withOrigin = setRegistryOrigin(one, 'shop', 'github.com/o/r');
    expect(freeEnvironment(withOrigin, 'shop', 'production').apps.shop).toEqual({
      origin: 'github.com/o/r',
      environments: {},
    });
  });
});

describe('registry.json', () => {
  it('round-trips, and reads a missing file as empty', () => {
    const text = serializeRegistry(
      claim(emptyRegistry(), 'shop', 'production', [3000, 3001], 'shop.com'),
    );
    expect(serializeRegistry(parseRegistry(text))).toBe(text);
    expect(parseRegistry(null)).toEqual({ version: 1, apps: {} });
  });

  it.each([
    ['not json', /not valid JSON/],
    ['{"version": 1, "apps": {"a": {"environments": {"x": {"ports": [1]}}}}}', /ports/],
  ])('refuses %s', (text, message) => {
    expect(() => parseRegistry(text)).toThrow(message);
  });
});

describe('listening ports', () => {
  it('asks ss for listening TCP sockets', () => {
    expect(listeningPortsArgv()).toEqual([
      'ss',
      '--no-header',
      '--tcp',
      '--listening',
      '--numeric',
    ]);
  });

  it('parses ss output of every address form', () => {
    const output = [
      'LISTEN 0      4096   127.0.0.1:3000      0.0.0.0:*',
      'LISTEN 0      4096   127.0.0.53%lo:53    0.0.0.0:*',
      'LISTEN 0      128    0.0.0.0:22          0.0.0.0:*',
      'LISTEN 0      128       [::]:22             [::]:*',
      'LISTEN 0      4096          *:443               *:*',
      'LISTEN 0      511   [::ffff:127.0.0.1]:3005     *:*',
      '',
    ].join('\n');
    expect(parseListeningPorts(output)).toEqual(new Set([3000, 53, 22, 443, 3005]));
  });
});
