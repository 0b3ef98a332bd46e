/**
 * The monthly broadcast report as the printed form a commune sends its superiors (issue 21
 * item 4): A4, the state heading, the title, the area and its code, the period, a table of the
 * items, the totals and each speaker's, the date and the two signatures, page numbers.
 * Rendered here, in the API layer, from the broker's figures (decision 0029); pdfkit with
 * DejaVu Sans, whose glyphs cover Vietnamese (the PDF standard fonts do not).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import { localDate, type MonthlyReport } from '@loalang/broker';

const require = createRequire(import.meta.url);
let fonts: { regular: Buffer; bold: Buffer } | undefined;
/** Read once, on the first PDF (1.4 MB): a server that never makes one never loads them. */
function fontFiles(): { regular: Buffer; bold: Buffer } {
  fonts ??= {
    regular: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf')),
    bold: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf')),
  };
  return fonts;
}

const MARGIN = 50;
interface Column {
  title: string;
  width: number;
  align?: 'left';
}
/** Column widths (points; A4's 595 less the margins) and headings of the items' table. */
const COLUMNS: readonly Column[] = [
  { title: 'TT', width: 26 },
  { title: 'Ngày', width: 62 },
  { title: 'Giờ', width: 36 },
  { title: 'Nội dung', width: 161, align: 'left' },
  { title: 'Thời lượng', width: 56 },
  { title: 'Số loa phát được', width: 52 },
  { title: 'Số loa không phát được', width: 102, align: 'left' },
];
/** Speakers named in a row of the table at most; the others are counted. */
const NAMED_MISSES = 4;

/** h:mm:ss, or m:ss under an hour. */
export function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const dmy = (date: string) => date.split('-').reverse().join('/');

function missesText(item: MonthlyReport['items'][number]): string {
  if (item.notPlayed === 0) return '0';
  const named = item.misses.slice(0, NAMED_MISSES).map((m) => m.deviceName);
  const more = item.misses.length - named.length;
  return `${item.notPlayed}: ${named.join(', ')}${more > 0 ? ` và ${more} loa khác` : ''}`;
}

/** The form as a PDF. `now` (ms): the date written above the signatures and in the document's info. */
export function monthlyReportPdf(report: MonthlyReport, now: number): Promise<Buffer> {
  const { regular, bold } = fontFiles();
  const [year, month] = report.month.split('-') as [string, string];
  const title = `BÁO CÁO KẾT QUẢ PHÁT THANH THÁNG ${month}/${year}`;
  const doc = new PDFDocument({ size: 'A4', margin: MARGIN, bufferPages: true, info: { Title: `${title} — ${report.areaName}`, Author: 'LoaLang', CreationDate: new Date(now) } });
  doc.registerFont('regular', regular);
  doc.registerFont('bold', bold);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const width = doc.page.width - 2 * MARGIN;

  // The state heading, as on every administrative document: the issuing body left, the motto right.
  const top = doc.y;
  doc.font('bold').fontSize(10).text('ỦY BAN NHÂN DÂN', MARGIN, top, { width: 200, align: 'center' });
  doc.text(report.areaName.toLocaleUpperCase('vi'), { width: 200, align: 'center' });
  doc.text('CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM', MARGIN + 215, top, { width: width - 215, align: 'center' });
  doc.text('Độc lập - Tự do - Hạnh phúc', { width: width - 215, align: 'center' });
  doc.moveDown(2);
  doc.font('bold').fontSize(14).text(title, MARGIN, doc.y, { width, align: 'center' });
  doc.moveDown(0.8);
  doc.font('regular').fontSize(10);
  doc.text(`Địa bàn: ${report.areaName}${report.areaCodes.length > 0 ? ` — mã đơn vị hành chính: ${report.areaCodes.join(', ')}` : ''}`);
  const last = localDate(new Date(Date.parse(report.to) - 1), report.timeZone);
  doc.text(`Kỳ báo cáo: từ ngày ${dmy(`${report.month}-01`)} đến ngày ${dmy(last)} (giờ ${report.timeZone})`);
  if (report.truncated) doc.text('Lưu ý: tháng có quá nhiều báo cáo, số liệu chưa đầy đủ.');
  doc.moveDown(0.8);

  table(
    doc,
    COLUMNS,
    report.items.map((item, i) => [String(i + 1), dmy(item.date), item.time, item.title, duration(item.seconds), String(item.completed), missesText(item)]),
  );
  if (report.items.length === 0) doc.font('regular').fontSize(10).text('Không có nội dung phát trong tháng.', MARGIN, doc.y + 4);

  const t = report.totals;
  doc.moveDown(1);
  doc.font('bold').fontSize(10).text('Tổng cộng:', MARGIN, doc.y, { width });
  doc.font('regular');
  doc.text(`- Số nội dung đã phát: ${t.items}; tổng thời lượng phát sóng: ${duration(t.seconds)}.`);
  doc.text(`- Số lượt loa phát được: ${t.completed}; số lượt loa không phát được: ${t.notPlayed}.`);
  if (report.speakers.length > 0) {
    doc.moveDown(0.8);
    doc.font('bold').text('Theo từng loa:', MARGIN, doc.y, { width });
    doc.moveDown(0.3);
    table(
      doc,
      [
        { title: 'TT', width: 26 },
        { title: 'Loa', width: 259, align: 'left' },
        { title: 'Số lượt phát được', width: 70 },
        { title: 'Số lượt không phát được', width: 70 },
        { title: 'Thời lượng', width: 70 },
      ],
      report.speakers.map((s, i) => [String(i + 1), s.deviceName, String(s.completed), String(s.notPlayed), duration(s.seconds)]),
    );
  }

  // The date and the signatures: kept together on one page.
  if (doc.y + 110 > doc.page.height - MARGIN) doc.addPage();
  const [y, m, d] = localDate(new Date(now), report.timeZone).split('-');
  doc.moveDown(1.5);
  const signY = doc.y;
  doc.font('regular').fontSize(10).text(`Ngày ${d} tháng ${m} năm ${y}`, MARGIN + width / 2, signY, { width: width / 2, align: 'center' });
  const rolesY = doc.y + 4;
  doc.font('bold').text('NGƯỜI LẬP BIỂU', MARGIN, rolesY, { width: width / 2, align: 'center' });
  doc.font('regular').text('(Ký, ghi rõ họ tên)', { width: width / 2, align: 'center' });
  doc.font('bold').text('CHỦ TỊCH UBND XÃ', MARGIN + width / 2, rolesY, { width: width / 2, align: 'center' });
  doc.font('regular').text('(Ký tên, đóng dấu)', { width: width / 2, align: 'center' });

  // Page numbers, once the page count is known; in the bottom margin (lifted, or pdfkit would add a page).
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font('regular').fontSize(9).text(`Trang ${i + 1}/${range.count}`, MARGIN, doc.page.height - 35, { width, align: 'center' });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  return done;
}

/** A table with a bold heading row, repeated on each new page; rows as tall as their longest cell. */
function table(doc: PDFKit.PDFDocument, columns: readonly Column[], rows: string[][]): void {
  const pad = 3;
  const heightOf = (cells: readonly string[]) => Math.max(...cells.map((c, i) => doc.heightOfString(c, { width: columns[i]!.width - 2 * pad }))) + 2 * pad;
  const drawRow = (cells: readonly string[], font: 'regular' | 'bold') => {
    doc.font(font).fontSize(9);
    const h = heightOf(cells);
    const y = doc.y;
    let x = MARGIN;
    cells.forEach((c, i) => {
      const w = columns[i]!.width;
      doc.rect(x, y, w, h).stroke();
      doc.text(c, x + pad, y + pad, { width: w - 2 * pad, align: columns[i]!.align ?? 'center' });
      x += w;
    });
    doc.x = MARGIN;
    doc.y = y + h;
  };
  const heading = columns.map((c) => c.title);
  doc.lineWidth(0.5);
  drawRow(heading, 'bold');
  for (const row of rows) {
    doc.font('regular').fontSize(9);
    if (doc.y + heightOf(row) > doc.page.height - MARGIN) {
      doc.addPage();
      drawRow(heading, 'bold');
    }
    drawRow(row, 'regular');
  }
}
