import { describe, expect, it } from 'vitest';
import { numberToVietnamese, spellNumbersVi } from '../src/media/vi-text.js';

describe('Vietnamese numbers', () => {
  it.each([
    [0, 'không'],
    [5, 'năm'],
    [10, 'mười'],
    [15, 'mười lăm'],
    [21, 'hai mươi mốt'],
    [24, 'hai mươi tư'],
    [25, 'hai mươi lăm'],
    [30, 'ba mươi'],
    [105, 'một trăm linh năm'],
    [110, 'một trăm mười'],
    [1005, 'một nghìn không trăm linh năm'],
    [2026, 'hai nghìn không trăm hai mươi sáu'],
    [1500000, 'một triệu năm trăm nghìn'],
  ])('%i → %s', (n, words) => expect(numberToVietnamese(n)).toBe(words));

  it('reads times, dates and quantities in a bulletin', () => {
    expect(spellNumbersVi('Họp lúc 15:30 ngày 22/11/2026.')).toBe('Họp lúc mười lăm giờ ba mươi ngày hai mươi hai tháng mười một năm hai nghìn không trăm hai mươi sáu.');
    expect(spellNumbersVi('Tiêm chủng từ 7h đến 11h30')).toBe('Tiêm chủng từ bảy giờ đến mười một giờ ba mươi');
    expect(spellNumbersVi('Lượng mưa 2,5 mm, có 1.200 hộ')).toBe('Lượng mưa hai phẩy năm mm, có một nghìn hai trăm hộ');
    expect(spellNumbersVi('06:00')).toBe('sáu giờ');
    expect(spellNumbersVi('Thứ Hai, 1/12/2026')).toBe('Thứ Hai, ngày một tháng mười hai năm hai nghìn không trăm hai mươi sáu');
  });
});
