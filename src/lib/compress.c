/* compress: not written yet */
