/** CAP 1.2 parsing, validation and mapping, and the geometry used to target speakers. */
import { describe, expect, it } from 'vitest';
import { isLoaError } from '@loalang/protocol';
import { capPriority, capSpeech, parseCap, pickInfo } from '../src/alerts/cap.js';
import { distanceKm, insideCircle, insidePolygon, parseCircle, parsePolygon } from '../src/alerts/geo.js';

const minimal = (extra = '', info = '') => `<?xml version="1.0"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>ID-1</identifier><sender>s@example.vn</sender><sent>2026-11-23T08:00:00+07:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>${extra}
  ${info}
</alert>`;
const info = (fields: string) => `<info><category>Met</category><event>Lũ</event>${fields}</info>`;
const grave = '<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>';

function capError(xml: string): { message: string; messageVi: string } {
  try {
    parseCap(xml);
  } catch (err) {
    if (isLoaError(err)) return { message: err.message, messageVi: err.messageVi };
    throw err;
  }
  throw new Error('parsed');
}

describe('parseCap', () => {
  it('reads the alert, its infos, resources and areas, and converts times to UTC', () => {
    const msg = parseCap(
      minimal(
        '',
        info(`${grave}<language>vi-VN</language><headline>Lũ &amp; sạt lở</headline><expires>2026-11-23T20:00:00+07:00</expires>
          <resource><resourceDesc>tin</resourceDesc><mimeType>audio/mpeg</mimeType><size>1200</size><uri>https://x.vn/a.mp3</uri></resource>
          <area><areaDesc>Xã</areaDesc><polygon>1,1 1,2 2,2 1,1</polygon><circle>16.7,107.2 5</circle>
          <geocode><valueName>VN</valueName><value>19495</value></geocode></area>`),
      ),
    );
    expect(msg).toMatchObject({ identifier: 'ID-1', status: 'Actual', msgType: 'Alert', scope: 'Public', sent: '2026-11-23T01:00:00.000Z', references: [] });
    const i = pickInfo(msg)!;
    expect(i).toMatchObject({ language: 'vi-VN', headline: 'Lũ & sạt lở', expires: '2026-11-23T13:00:00.000Z', severity: 'Extreme' });
    expect(i.resources).toEqual([{ resourceDesc: 'tin', mimeType: 'audio/mpeg', size: 1200, uri: 'https://x.vn/a.mp3' }]);
    expect(i.areas[0]).toEqual({ areaDesc: 'Xã', polygons: ['1,1 1,2 2,2 1,1'], circles: ['16.7,107.2 5'], geocodes: [{ valueName: 'VN', value: '19495' }] });
  });

  it('names the missing or wrong field in both languages', () => {
    expect(capError(minimal().replace('<scope>Public</scope>', '')).message).toContain('<scope>');
    expect(capError(minimal().replace('Actual', 'Real')).message).toContain('<status> "Real"');
    expect(capError(minimal().replace('2026-11-23T08:00:00+07:00', '23/11/2026')).messageVi).toContain('không đúng định dạng thời gian');
    expect(capError(minimal('', info('<urgency>Immediate</urgency><severity>Extreme</severity>'))).message).toContain('<certainty>');
    expect(capError(minimal('', '<info><event>x</event></info>')).message).toContain('<category>');
    expect(capError(minimal().replace('<msgType>Alert</msgType>', '<msgType>Update</msgType>')).message).toContain('<references>');
    expect(capError('<alert><identifier>').message).toContain('XML');
    expect(capError('<feed/>').message).toContain('<alert>');
    expect(capError(minimal().replace('cap:1.2', 'cap:1.1')).message).toContain('not CAP 1.2');
  });

  it('parses references as sender,identifier,sent triples', () => {
    const msg = parseCap(minimal('<references>a@x,ID-0,2026-11-23T07:00:00+07:00 b@y,ID-9,2026-11-23T07:30:00+07:00</references>').replace('<msgType>Alert</msgType>', '<msgType>Cancel</msgType>'));
    expect(msg.references).toEqual([
      { sender: 'a@x', identifier: 'ID-0', sent: '2026-11-23T07:00:00+07:00' },
      { sender: 'b@y', identifier: 'ID-9', sent: '2026-11-23T07:30:00+07:00' },
    ]);
  });

  it('does not expand external entities', () => {
    const xml = minimal().replace('<?xml version="1.0"?>', '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace('ID-1', '&x;');
    let identifier = '';
    try {
      identifier = parseCap(xml).identifier;
    } catch {
      identifier = 'refused';
    }
    expect(identifier).not.toContain('root:');
  });
});

describe('mapping', () => {
  const one = (fields: string) => pickInfo(parseCap(minimal('', info(fields))))!;
  it('grave and imminent hazards cut in; others wait', () => {
    expect(capPriority(one(grave))).toBe('emergency');
    expect(capPriority(one('<urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>'))).toBe('emergency');
    expect(capPriority(one('<urgency>Immediate</urgency><severity>Severe</severity><certainty>Unlikely</certainty>'))).toBe('priority');
    expect(capPriority(one('<urgency>Future</urgency><severity>Extreme</severity><certainty>Observed</certainty>'))).toBe('priority');
    expect(capPriority(one('<urgency>Immediate</urgency><severity>Moderate</severity><certainty>Observed</certainty>'))).toBe('priority');
  });
  it('speaks headline, description and instruction', () => {
    expect(capSpeech(one(`${grave}<headline>Lũ lớn</headline><description>Nước lên nhanh</description><instruction>Sơ tán</instruction>`))).toBe('Lũ lớn. Nước lên nhanh. Sơ tán');
    expect(capSpeech(one(grave))).toBe('Lũ');
  });
});

describe('geometry', () => {
  it('polygons must be closed and well formed', () => {
    expect(parsePolygon('1,1 1,2 2,2 1,1')).toHaveLength(4);
    expect(parsePolygon('1,1 1,2 2,2 2,1')).toBeNull();
    expect(parsePolygon('1,1 1,2 1,1')).toBeNull();
    expect(parsePolygon('1;1 1,2 2,2 1,1')).toBeNull();
    expect(parsePolygon('91,1 1,2 2,2 91,1')).toBeNull();
    expect(parseCircle('16.7,107.2 5')).toEqual({ center: { lat: 16.7, lon: 107.2 }, radiusKm: 5 });
    expect(parseCircle('16.7,107.2')).toBeNull();
    expect(parseCircle('16.7,107.2 -1')).toBeNull();
  });
  it('finds points inside polygons and circles', () => {
    const square = parsePolygon('16.8,107.2 16.8,107.3 16.7,107.3 16.7,107.2 16.8,107.2')!;
    expect(insidePolygon({ lat: 16.75, lon: 107.25 }, square)).toBe(true);
    expect(insidePolygon({ lat: 16.85, lon: 107.25 }, square)).toBe(false);
    // Hà Nội → Huế is about 540 km as the crow flies.
    expect(distanceKm({ lat: 21.0285, lon: 105.8542 }, { lat: 16.4637, lon: 107.5909 })).toBeGreaterThan(530);
    expect(distanceKm({ lat: 21.0285, lon: 105.8542 }, { lat: 16.4637, lon: 107.5909 })).toBeLessThan(550);
    expect(insideCircle({ lat: 16.75, lon: 107.25 }, { center: { lat: 16.76, lon: 107.25 }, radiusKm: 2 })).toBe(true);
    expect(insideCircle({ lat: 16.9, lon: 107.5 }, { center: { lat: 16.75, lon: 107.25 }, radiusKm: 3 })).toBe(false);
  });
});
